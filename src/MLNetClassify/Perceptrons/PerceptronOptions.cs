using MLNetClassify.Learning;

namespace MLNetClassify.Perceptrons;

/// <summary>Options for a perceptron on raw pixels: image resized to S×S, flattened, fully connected layers.</summary>
/// <remarks>
/// No hidden layer gives the lesson's single-layer perceptron (y = softmax(W·x + b)); hidden layers use ReLU.
/// Pixels are scaled to 0–1 and centred on the training mean before the first layer; both are folded into the
/// saved first layer, so the saved model takes the stock 0–255 pixel planes.
/// </remarks>
public sealed record PerceptronOptions : GradientTrainingOptions
{
    /// <summary>
    /// The shared training defaults, adjusted for raw pixels: 60 epochs, learning rate 1e-4, L2 1e-3, patience 8
    /// (chosen on intel-scenes, docs/baselines.md: pixel inputs are thousands wide, so steps must be smaller).
    /// </summary>
    public PerceptronOptions()
    {
        Epochs = 60;
        LearningRate = 1e-4f;
        L2 = 1e-3f;
        EarlyStoppingPatience = 8;
    }

    /// <summary>Side length S the image is resized to; the input has 3·S·S values.</summary>
    public int ImageSize { get; init; } = 128;

    /// <summary>Sizes of the hidden ReLU layers, first to last; empty for a single-layer perceptron.</summary>
    public IReadOnlyList<int> HiddenLayers { get; init; } = [];

    /// <summary>
    /// False (the default): one unit per class, softmax over them. True, for two classes only: one unit,
    /// p(second class) = σ(w·x + b), trained with binary cross-entropy, and saved as the equivalent two-row softmax
    /// [0; w], [0; b] (softmax(0, z) = (1 − σ(z), σ(z))), so it scores like any model.
    /// </summary>
    public bool SigmoidOutput { get; init; }

    /// <summary>Key column with the labels (map text labels with MapValueToKey first).</summary>
    public string LabelColumnName { get; init; } = "Label";

    /// <summary>Image column: paths (text) or in-memory images (<see cref="Microsoft.ML.Data.MLImage"/>).</summary>
    public string ImageColumnName { get; init; } = "ImagePath";

    /// <summary>Folder that relative image paths are resolved against; null when paths are absolute.</summary>
    public string? ImageFolder { get; init; }

    /// <summary>The lesson's single-layer perceptron: 128×128 pixels → softmax.</summary>
    public static PerceptronOptions SingleLayer { get; } = new();

    /// <summary>
    /// A small multi-layer perceptron: 32×32 pixels → 256 ReLU → softmax (0.79 M weights). Smaller images than the
    /// single-layer default because the first hidden layer's weights grow as 3·S²·hidden; on intel-scenes this
    /// size beat 48×48 and 64×64 with wider or deeper layers in accuracy and time (docs/baselines.md).
    /// </summary>
    public static PerceptronOptions MultiLayer { get; } = new() { ImageSize = 32, HiddenLayers = [256] };

    internal override void Validate()
    {
        base.Validate();
        if (ImageSize < 8) throw new ArgumentOutOfRangeException(nameof(ImageSize), ImageSize, "ImageSize must be at least 8.");
        if (HiddenLayers is null || HiddenLayers.Any(h => h <= 0))
            throw new ArgumentException("Every hidden layer needs a positive size.", nameof(HiddenLayers));
    }
}

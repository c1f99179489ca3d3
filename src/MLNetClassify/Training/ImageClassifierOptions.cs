using MLNetClassify.Backbones;
using MLNetClassify.Featurization;
using MLNetClassify.Heads;

namespace MLNetClassify.Training;

/// <summary>Options for <see cref="ImageClassifierEstimator"/>.</summary>
public sealed record ImageClassifierOptions
{
    /// <summary>Key column with the labels (map text labels with MapValueToKey first).</summary>
    public string LabelColumnName { get; init; } = "Label";

    /// <summary>Image column: paths (text) or in-memory images (<see cref="Microsoft.ML.Data.MLImage"/>).</summary>
    public string ImageColumnName { get; init; } = "ImagePath";

    /// <summary>Folder that relative image paths are resolved against; null when paths are absolute.</summary>
    public string? ImageFolder { get; init; }

    /// <summary>Name of the feature column the model adds.</summary>
    public string FeatureColumnName { get; init; } = "Features";

    /// <summary>The pretrained backbone; the embedded ResNet18 by default.</summary>
    public BackboneSpec Backbone { get; init; } = BackboneCatalog.ResNet18;

    /// <summary>How the softmax head is trained.</summary>
    public SoftmaxHeadOptions Head { get; init; } = new();

    /// <summary>How training images are featurized (batching, threads).</summary>
    public FeaturizerOptions Featurizer { get; init; } = new();

    /// <summary>
    /// Train even when a class of the label key has no usable training image (none listed, or every one unreadable):
    /// the model then knows the class but never predicts it with confidence. Off by default: such a class is an error
    /// that names it, as it usually means wrong paths in a split file.
    /// </summary>
    public bool AllowEmptyClasses { get; init; }

    /// <summary>
    /// Augmented views of each training image featurized besides the image itself: 0 for none, 1 for its mirror image,
    /// k ≥ 2 for the mirror plus k − 1 random resized crops (flipped at random, mild colour jitter), drawn from
    /// <see cref="AugmentationSeed"/> and the image's content, so a run repeats exactly and the views are cached like
    /// plain features. Each view costs one more pass of the backbone over the training images; scoring is unchanged.
    /// </summary>
    public int AugmentedViews { get; init; } = DefaultAugmentedViews;

    /// <summary>The default of <see cref="AugmentedViews"/>, chosen on validation parts of the training rows (docs/accuracy.md).</summary>
    public const int DefaultAugmentedViews = 0;

    /// <summary>
    /// Views of each test image whose class probabilities are averaged when <c>ClassifierWorkflow.Train</c> evaluates
    /// (1: the image alone, the default; 2: and its mirror image; k &gt; 2: and k − 2 random resized crops). The saved model
    /// is unchanged: it scores one view, as an app does.
    /// </summary>
    public int TestTimeViews { get; init; } = 1;

    /// <summary>Seed of the random crops of <see cref="AugmentedViews"/> and <see cref="TestTimeViews"/>.</summary>
    public int AugmentationSeed { get; init; } = 1;

    /// <summary>
    /// For a vision transformer with a class token (a <see cref="Backbone"/> read from a token-sequence ONNX file):
    /// <c>ClassifierWorkflow.Train</c> trains the head once on the class token and once on the mean of the patch tokens
    /// and keeps the one whose validation loss (on the rows the head holds out of the training rows) is lower, the mean
    /// on a tie; the choice is in <c>TrainingResult.PoolingValidationLoss</c>. It costs a second backbone pass over the
    /// training images. False: <see cref="BackboneSpec.Pooling"/> is used as it is. Other backbones are not affected.
    /// </summary>
    public bool ChooseTokenPooling { get; init; } = true;

    /// <summary>
    /// Backbone stages trained with the head by <c>ClassifierWorkflow.Train</c>: 0, the default, trains the head alone on
    /// the frozen backbone; 1 fine-tunes the last stage (ResNet18 at 224 pixels: its last two residual blocks) after the
    /// head, at lower rates, stopping early on validation images drawn from the training images (docs/fine-tuning.md).
    /// </summary>
    public int FineTuneStages { get; init; }

}

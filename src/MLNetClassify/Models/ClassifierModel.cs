using System.IO.Compression;
using System.Text;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Trainers;
using MLNetClassify.Learning;

namespace MLNetClassify.Models;

/// <summary>
/// The library's one representation of a trained image classifier: the trunk (the featurizer graph: preprocessing, the
/// frozen backbone cut at its feature node, pooling; what ONNX Runtime runs), the tail trained on its features (the
/// softmax layer p = softmax(W·x + b)), and the class names in score order. A zip holds it twice over: as the stock
/// ML.NET chain generated from it (<see cref="ToChain"/>; training's chain is made from the same softmax layer), which
/// <c>mlContext.Model.Load</c> reads with no registration, and as <see cref="HeadEntry"/>, the tail and classes with the
/// fingerprints of ML.NET's entries. Reading a zip gives it back (<see cref="Read"/>); retraining, evaluation, reports,
/// class activation maps, predict and the ONNX export start from it, and <see cref="ClassifierScorer"/> is its one
/// scoring path.
/// </summary>
/// <remarks>
/// Reading through ML.NET means a full <c>Model.Load</c> (its ONNX Runtime session included: 0.4 s for ResNet18 on 2
/// cores). When the fingerprints in <see cref="HeadEntry"/> still match ML.NET's entries, the model is read from the
/// zip directly; when anything differs (an entry replaced, added or removed), or the entry is missing or unreadable, the
/// zip is read through ML.NET, which gives the same parts (ClassifierModelTests).
/// </remarks>
internal sealed partial record ClassifierModel(ClassifierTrunk Trunk, SoftmaxLayer Tail, IReadOnlyList<string> Classes)
{
    /// <summary>The images the head trained on, by <see cref="ModelFiles.TrainedImageKey"/>, when the zip lists them.</summary>
    public IReadOnlySet<string>? TrainedImages { get; init; }

    /// <summary>Reads <paramref name="modelPath"/>; <paramref name="purpose"/> ends the message when it is not such a zip.</summary>
    /// <exception cref="FileNotFoundException">No such file.</exception>
    /// <exception cref="InvalidDataException">No featurizer graph (a pixel perceptron, a model from elsewhere), no softmax head, or other steps between them; the message says which.</exception>
    public static ClassifierModel Read(MLContext mlContext, string modelPath, string purpose) =>
        TryReadRecorded(modelPath) ?? ReadThroughMlNet(mlContext, modelPath, purpose);

    /// <summary>
    /// The classifier model <paramref name="modelPath"/> holds, or null when it holds none (a pixel perceptron, a
    /// chain with other steps, a model from elsewhere: score those through their own ML.NET steps).
    /// </summary>
    /// <exception cref="FileNotFoundException">No such file.</exception>
    /// <param name="mlContext">The ML.NET context.</param>
    /// <param name="modelPath">The zip.</param>
    /// <param name="loaded">The zip already loaded with ML.NET, when the caller has it; otherwise it is loaded (and released) here if needed.</param>
    /// <exception cref="InvalidDataException">The file is damaged, or not an ML.NET model zip.</exception>
    public static ClassifierModel? TryRead(MLContext mlContext, string modelPath, ITransformer? loaded = null)
    {
        if (TryReadRecorded(modelPath) is { } recorded)
            return recorded;
        if (ModelFiles.ReadFeaturizerGraph(modelPath) is not { } trunk)
            return null;
        var model = loaded ?? ModelFiles.Load(mlContext, modelPath);
        using var release = loaded is null ? model as IDisposable : null;
        try
        {
            return FromChain(mlContext, model, trunk, out _) is { } read ? read with { TrainedImages = ModelFiles.ReadTrainedImages(modelPath) } : null;
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or KeyNotFoundException)
        {
            return null; // steps that do not fit together: the ML.NET path says what is wrong
        }
    }

    /// <summary>Reads the parts by loading the zip with ML.NET (any zip with our graph and an ML.NET softmax head directly on it).</summary>
    internal static ClassifierModel ReadThroughMlNet(MLContext mlContext, string modelPath, string purpose)
    {
        var model = ModelFiles.Load(mlContext, modelPath);
        // Only its numbers are kept: disposing the chain deletes the temporary copy of its ONNX graph ML.NET wrote.
        using var release = model as IDisposable;
        var trunk = ModelFiles.ReadFeaturizerGraph(modelPath)
            ?? throw new InvalidDataException($"{modelPath} holds no MLNetClassify featurizer graph (a pixel perceptron, or a model from elsewhere): {purpose}.");
        try
        {
            return FromChain(mlContext, model, trunk, out var problem) is { } read
                ? read with { TrainedImages = ModelFiles.ReadTrainedImages(modelPath) }
                : throw new InvalidDataException($"{modelPath}: {problem}: {purpose}.");
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or KeyNotFoundException)
        {
            // A zip whose entries are intact but do not fit together (one step's input missing from the one before).
            throw new InvalidDataException($"{modelPath} loads, but its steps do not fit together ({e.Message}): {purpose}.", e);
        }
    }

    /// <summary>
    /// The model a fitted or loaded ML.NET chain holds when it is the library's shape: image steps, the one ONNX step
    /// running <paramref name="trunk"/>, ML.NET's softmax layer on its output, and label key mappings; null, saying why
    /// in <paramref name="problem"/>, when another step takes part (a normalizer between features and head, a second
    /// ONNX step) and the parts alone would not score as the chain does.
    /// </summary>
    internal static ClassifierModel? FromChain(MLContext mlContext, ITransformer model, ClassifierTrunk trunk, out string? problem)
    {
        var leaves = ModelInfo.Leaves(model).ToList();
        var heads = leaves.OfType<MulticlassPredictionTransformer<MaximumEntropyModelParameters>>().ToList();
        problem = heads.Count != 1 ? "has no softmax head (ML.NET's MaximumEntropy layer) on the features"
            : leaves.Count(t => t is Microsoft.ML.Transforms.Onnx.OnnxTransformer) != 1 ? "runs more than one ONNX step (a pooling or perceptron step besides the featurizer)"
            : leaves.FirstOrDefault(t => !IsOwnStep(t)) is { } other ? $"has a {other.GetType().Name} step, which the featurizer graph and the softmax layer alone do not account for"
            : null;
        if (problem is not null)
            return null;
        VBuffer<float>[] rows = [];
        heads[0].Model.GetWeights(ref rows, out int classes);
        if (rows.Any(r => r.Length != trunk.Channels))
        {
            problem = $"the head takes {rows[0].Length} inputs, the featurizer gives {trunk.Channels}";
            return null;
        }
        var weights = rows.SelectMany(r => r.DenseValues()).ToArray();
        var tail = new SoftmaxLayer(weights, heads[0].Model.GetBiases().ToArray(), trunk.Channels);
        var names = ModelInfo.Classes(mlContext, model);
        if (names.Count != tail.Classes)
        {
            problem = $"the head scores {tail.Classes} classes, the model names {names.Count}";
            return null;
        }
        return new ClassifierModel(trunk, tail, names);
    }

    /// <summary>
    /// The steps a classifier zip the library writes is made of (as stock ML.NET loads them), and steps that only copy,
    /// select or drop columns: none changes a value the trunk or the tail sees.
    /// </summary>
    private static bool IsOwnStep(ITransformer step) => step is Microsoft.ML.Data.ImageLoadingTransformer
        or Microsoft.ML.Transforms.ColumnCopyingTransformer or Microsoft.ML.Transforms.ColumnSelectingTransformer
        or Microsoft.ML.Transforms.Image.ImageResizingTransformer or Microsoft.ML.Transforms.Image.ImagePixelExtractingTransformer
        or Microsoft.ML.Transforms.Onnx.OnnxTransformer or MulticlassPredictionTransformer<MaximumEntropyModelParameters>
        or Microsoft.ML.Transforms.ValueToKeyMappingTransformer or Microsoft.ML.Transforms.KeyToValueMappingTransformer;

    /// <summary>
    /// The model a training run produced (its featurizer graph and trained softmax layer), or null for a trainer without
    /// them (the pixel perceptrons).
    /// </summary>
    public static ClassifierModel? Of<TModel>(Learning.TrainingResult<TModel> training) where TModel : class, ITransformer =>
        training is { Tail: { } tail, TrunkGraph: { } graph } ? new ClassifierModel(ClassifierTrunk.Of(graph), tail, training.Classes) : null;

    /// <summary>Class probabilities (class order) for one image's features: the tail's softmax(W·x + b).</summary>
    public float[] Probabilities(ReadOnlySpan<float> features) => Tail.Predict(features);

    /// <summary>The model's class index of <paramref name="label"/>, or −1.</summary>
    public int ClassIndex(string label)
    {
        for (int c = 0; c < Classes.Count; c++)
            if (string.Equals(Classes[c], label, StringComparison.Ordinal)) return c;
        return -1;
    }
}

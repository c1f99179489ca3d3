using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Trainers;
using MLNetClassify.Backbones;
using MLNetClassify.Data;
using MLNetClassify.Featurization;
using MLNetClassify.Onnx;
using MLNetClassify.Models;

namespace MLNetClassify.Explanations;

/// <summary>
/// Class activation maps from a saved zip alone: its featurizer graph with the global average pooling taken out gives
/// the last feature map (C×H×W) in batches, and its ML.NET softmax layer gives the weights W and biases b; the map of
/// class k is Σ_c W[k, c] · F[c, h, w]. Its mean over the positions is W[k]·mean(F) = logit_k − b_k, the identity that
/// makes CAM exact for a head on globally averaged features.
/// </summary>
internal sealed class ClassActivationMapper : IDisposable
{
    private readonly ImageFeaturizer _featurizer;
    private readonly ClassifierModel _model;

    private ClassActivationMapper(ImageFeaturizer featurizer, ClassifierModel model, int height, int width)
    {
        (_featurizer, _model, Height, Width) = (featurizer, model, height, width);
    }

    /// <summary>The model the maps explain.</summary>
    public ClassifierModel Model => _model;

    /// <summary>The model's classes, in score order.</summary>
    public IReadOnlyList<string> Classes => _model.Classes;

    /// <summary>Channels of the feature map (the head's inputs).</summary>
    public int Channels => _model.Trunk.Channels;

    /// <summary>Rows and columns of the map.</summary>
    public int Height { get; }

    /// <inheritdoc cref="Height"/>
    public int Width { get; }

    /// <summary>Opens the zip at <paramref name="modelPath"/>.</summary>
    /// <exception cref="FileNotFoundException">No such file.</exception>
    /// <exception cref="InvalidDataException">The zip holds no MLNetClassify featurizer graph, its features are not a global average of a feature map, or its head is not a softmax layer on them; the message says which.</exception>
    public static ClassActivationMapper Open(MLContext mlContext, string modelPath, FeaturizerOptions? options = null)
    {
        var classifier = ClassifierModel.Read(mlContext, modelPath, "no class activation map");
        var saved = classifier.Trunk;
        var unpooled = FeaturizerGraph.Unpooled(saved.Graph)
            ?? throw new InvalidDataException($"{modelPath}: the backbone's features ({saved.BackboneName}) are not a global average of a feature map (a vision transformer's class token, or a cut that already pools), so a class activation map would not be exact; a model trained on the average (train --features Average) has one.");
        int positions = Positions(unpooled, saved.InputSize) / saved.Channels;
        int side = (int)Math.Round(Math.Sqrt(positions));
        var spec = saved.Spec(modelPath) with { Channels = saved.Channels * positions };
        var featurizer = new ImageFeaturizer(mlContext, spec, unpooled, (options ?? new FeaturizerOptions()) with { CacheDirectory = null });
        return new ClassActivationMapper(featurizer, classifier, side * side == positions ? side : 1, side * side == positions ? side : positions);
    }

    /// <summary>Values per image of the unpooled graph's output (C·H·W), from one run on a blank image.</summary>
    private static int Positions(byte[] graph, int size) =>
        (int)ShapeProbe.Run(graph, FeaturizerGraph.InputName, [1, 3, size, size], [FeaturizerGraph.OutputName])[FeaturizerGraph.OutputName]
            .Aggregate(1L, (a, b) => a * b);

    /// <summary>
    /// The map of <paramref name="label"/> (each image's predicted class when null) for each file, in order; a file
    /// that cannot be read gets a map with no values and its <see cref="ClassActivationMap.Problem"/>.
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="label"/> is not one of the model's classes.</exception>
    public IReadOnlyList<ClassActivationMap> Explain(IReadOnlyList<string> imagePaths, string? label = null, CancellationToken cancellationToken = default)
    {
        int asked = label is null ? -1 : _model.ClassIndex(label);
        if (label is not null && asked < 0)
            throw new ArgumentException($"'{label}' is not a class of this model ({string.Join(", ", Classes)}).", nameof(label));
        var result = _featurizer.Featurize(imagePaths, null, cancellationToken);
        var maps = new ClassActivationMap?[imagePaths.Count];
        for (int row = 0; row < result.Features.Rows; row++)
            maps[result.SourceIndices[row]] = Map(imagePaths[result.SourceIndices[row]], result.Features.Row(row), asked);
        foreach (var skip in result.Skipped)
            maps[skip.Index] = new ClassActivationMap(skip.Source, label ?? "", "", 0, Height, Width, [], 0, 0, skip.Reason);
        return maps.Select(m => m!).ToList();
    }

    /// <summary>The mean of each channel over the map's positions: the features the model's tail scores (its global average pooling).</summary>
    private float[] Pooled(ReadOnlySpan<float> featureMap)
    {
        int positions = Height * Width;
        var pooled = new float[Channels];
        for (int c = 0; c < Channels; c++)
            pooled[c] = System.Numerics.Tensors.TensorPrimitives.Sum(featureMap.Slice(c * positions, positions)) / positions;
        return pooled;
    }

    private ClassActivationMap Map(string source, ReadOnlySpan<float> featureMap, int asked)
    {
        int positions = Height * Width;
        var tail = _model.Tail;
        var pooled = Pooled(featureMap);
        var logits = new float[Classes.Count];
        tail.Logits(pooled, logits);
        var probabilities = _model.Probabilities(pooled);
        int predicted = ClassificationMetrics.Predicted(Array.ConvertAll(probabilities, p => (double)p));
        int target = asked >= 0 ? asked : predicted;
        var values = new float[positions];
        for (int c = 0; c < Channels; c++)
        {
            float weight = tail.Weights[target * Channels + c];
            for (int p = 0; p < positions; p++) values[p] += weight * featureMap[c * positions + p];
        }
        return new ClassActivationMap(source, Classes[target], Classes[predicted], probabilities[target], Height, Width, values,
            logits[target], tail.Bias[target]);
    }

    public void Dispose() => _featurizer.Dispose();
}

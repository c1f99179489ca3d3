using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Trainers;

namespace MLNetClassify.Persistence;

/// <summary>
/// A saved zip read as its two learned parts: the MLNetClassify featurizer graph and, directly on its features, the
/// ML.NET softmax layer (weights W [classes × features], biases b). What class activation maps and the ONNX export start from.
/// </summary>
internal sealed record SavedClassifier(SavedFeaturizer Featurizer, float[][] Weights, float[] Biases, IReadOnlyList<string> Classes)
{
    /// <summary>Reads <paramref name="modelPath"/>; <paramref name="purpose"/> ends the message when it is not such a zip.</summary>
    /// <exception cref="FileNotFoundException">No such file.</exception>
    /// <exception cref="InvalidDataException">No featurizer graph (a pixel perceptron, a model from elsewhere), no softmax head, or other steps between them; the message says which.</exception>
    public static SavedClassifier Read(MLContext mlContext, string modelPath, string purpose)
    {
        var model = ModelFiles.Load(mlContext, modelPath);
        // Only its numbers are kept: disposing the chain deletes the temporary copy of its ONNX graph ML.NET wrote.
        using var release = model as IDisposable;
        var saved = ModelFiles.ReadFeaturizerGraph(modelPath)
            ?? throw new InvalidDataException($"{modelPath} holds no MLNetClassify featurizer graph (a pixel perceptron, or a model from elsewhere): {purpose}.");
        var head = DecodedImageScorer.Leaves(model).OfType<MulticlassPredictionTransformer<MaximumEntropyModelParameters>>().LastOrDefault()
            ?? throw new InvalidDataException($"{modelPath} has no softmax head (ML.NET's MaximumEntropy layer) on the features: {purpose}.");
        VBuffer<float>[] rows = [];
        head.Model.GetWeights(ref rows, out _);
        var weights = rows.Select(v => v.DenseValues().ToArray()).ToArray();
        if (weights.Any(w => w.Length != saved.Channels))
            throw new InvalidDataException($"{modelPath}: the head takes {weights[0].Length} inputs, the featurizer gives {saved.Channels} (other steps between them): {purpose}.");
        return new SavedClassifier(saved, weights, head.Model.GetBiases().ToArray(), ModelInfo.Classes(mlContext, model));
    }
}

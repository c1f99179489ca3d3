using System.Reflection;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using Microsoft.ML.Trainers;
using MLNetClassify.Images;

namespace MLNetClassify.Learning;

/// <summary>
/// Turns a trained <see cref="SoftmaxLayer"/> into ML.NET's own multiclass prediction transformer,
/// so the head is saved, loaded and scored by stock ML.NET with no registration call.
/// </summary>
/// <remarks>
/// A softmax layer is exactly what ML.NET's <see cref="MaximumEntropyModelParameters"/> computes
/// (p = softmax(W·x + b)), and its prediction transformer gives the standard outputs: Score in key order and a
/// scalar key PredictedLabel carrying the label names, which Evaluate, PredictionEngine and MapKeyToValue expect.
/// An ONNX head under ApplyOnnxModel cannot give a scalar PredictedLabel (OnnxTransformer outputs are always
/// vectors). ML.NET offers no public constructor for these two stock types, so they are created through their
/// internal constructors: only at training time, pinned to ML.NET 5.0.1, and checked by a test; loading a saved
/// model uses ML.NET's public loader alone.
/// </remarks>
internal static class StockSoftmaxLayer
{
    private static readonly ConstructorInfo ModelConstructor = typeof(MaximumEntropyModelParameters).GetConstructor(
        BindingFlags.NonPublic | BindingFlags.Instance, null,
        [typeof(IHostEnvironment), typeof(VBuffer<float>[]), typeof(float[]), typeof(int), typeof(int), typeof(string[]), typeof(ModelStatisticsBase)],
        null) ?? throw Unsupported("MaximumEntropyModelParameters(env, weights, bias, classes, features, labelNames, stats)");

    private static readonly ConstructorInfo TransformerConstructor = typeof(MulticlassPredictionTransformer<MaximumEntropyModelParameters>).GetConstructor(
        BindingFlags.NonPublic | BindingFlags.Instance, null,
        [typeof(IHostEnvironment), typeof(MaximumEntropyModelParameters), typeof(DataViewSchema), typeof(string), typeof(string), typeof(string), typeof(string)],
        null) ?? throw Unsupported("MulticlassPredictionTransformer(env, model, schema, feature, label, score, predictedLabel)");

    /// <summary>A stock prediction transformer scoring <paramref name="head"/> on <paramref name="featureColumn"/>.</summary>
    /// <param name="mlContext">The ML.NET context.</param>
    /// <param name="head">Trained weights.</param>
    /// <param name="inputSchema">Schema the transformer will see; its label column gives PredictedLabel its key values.</param>
    /// <param name="featureColumn">Known-size float vector column of length <see cref="SoftmaxLayer.Features"/>.</param>
    /// <param name="labelColumn">Key column whose key count equals the head's classes.</param>
    public static MulticlassPredictionTransformer<MaximumEntropyModelParameters> Create(
        MLContext mlContext, SoftmaxLayer head, DataViewSchema inputSchema, string featureColumn, string labelColumn)
    {
        var weights = new VBuffer<float>[head.Classes];
        for (int k = 0; k < head.Classes; k++)
            weights[k] = new VBuffer<float>(head.Features, head.Weights.AsSpan(k * head.Features, head.Features).ToArray());
        var labelNames = LabeledImageInput.LabelNames(inputSchema[labelColumn]);
        try
        {
            var model = (MaximumEntropyModelParameters)ModelConstructor.Invoke(
                [(IHostEnvironment)mlContext, weights, (float[])head.Bias.Clone(), head.Classes, head.Features, labelNames, null]);
            return (MulticlassPredictionTransformer<MaximumEntropyModelParameters>)TransformerConstructor.Invoke(
                [(IHostEnvironment)mlContext, model, inputSchema, featureColumn, labelColumn, "Score", "PredictedLabel"]);
        }
        catch (TargetInvocationException e) when (e.InnerException is not null)
        {
            throw e.InnerException;
        }
    }

    private static NotSupportedException Unsupported(string what) => new(
        $"This build of ML.NET lacks the internal constructor {what} that MLNetClassify uses to emit a stock " +
        "softmax layer. MLNetClassify is built against Microsoft.ML 5.0.1; use that version.");
}

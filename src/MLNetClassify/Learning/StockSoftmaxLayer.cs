using System.Reflection;
using System.Runtime.ExceptionServices;
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
/// internal constructors: only at training time, and only on the Microsoft.ML versions it was tested with
/// (<see cref="TestedVersions"/>; the package reference declares the same range). Another version, or a missing
/// constructor, fails with a message that says so, not with a type-initialization error. Loading a saved model uses
/// ML.NET's public loader alone, on any version that reads the zip format.
/// </remarks>
internal static class StockSoftmaxLayer
{
    /// <summary>The Microsoft.ML versions this was tested with: 5.0.1 up to, not including, 6.1 (5.0.1 and 6.0.0 tried).</summary>
    internal const string TestedVersions = "[5.0.1, 6.1)";

    private static readonly Version Lowest = new(5, 0, 1);
    private static readonly Version Above = new(6, 1, 0);

    // Looked up on first use, not in a static initializer: a mismatch then surfaces as the NotSupportedException
    // below (Lazy caches it and throws it again), not as a TypeInitializationException.
    private static readonly Lazy<(ConstructorInfo Model, ConstructorInfo Transformer)> Constructors = new(FindConstructors);

    /// <summary>A stock prediction transformer scoring <paramref name="head"/> on <paramref name="featureColumn"/>.</summary>
    /// <param name="mlContext">The ML.NET context.</param>
    /// <param name="head">Trained weights.</param>
    /// <param name="inputSchema">Schema the transformer will see; its label column gives PredictedLabel its key values.</param>
    /// <param name="featureColumn">Known-size float vector column of length <see cref="SoftmaxLayer.Features"/>.</param>
    /// <param name="labelColumn">Key column whose key count equals the head's classes.</param>
    /// <exception cref="NotSupportedException">This Microsoft.ML version is outside <see cref="TestedVersions"/>, or lacks the constructors.</exception>
    public static MulticlassPredictionTransformer<MaximumEntropyModelParameters> Create(
        MLContext mlContext, SoftmaxLayer head, DataViewSchema inputSchema, string featureColumn, string labelColumn)
    {
        var (modelConstructor, transformerConstructor) = Constructors.Value;
        var weights = new VBuffer<float>[head.Classes];
        for (int k = 0; k < head.Classes; k++)
            weights[k] = new VBuffer<float>(head.Features, head.Weights.AsSpan(k * head.Features, head.Features).ToArray());
        var labelNames = LabeledImageInput.LabelNames(inputSchema[labelColumn]);
        try
        {
            var model = (MaximumEntropyModelParameters)modelConstructor.Invoke(
                [(IHostEnvironment)mlContext, weights, (float[])head.Bias.Clone(), head.Classes, head.Features, labelNames, null]);
            return (MulticlassPredictionTransformer<MaximumEntropyModelParameters>)transformerConstructor.Invoke(
                [(IHostEnvironment)mlContext, model, inputSchema, featureColumn, labelColumn, "Score", "PredictedLabel"]);
        }
        catch (TargetInvocationException e) when (e.InnerException is not null)
        {
            ExceptionDispatchInfo.Capture(e.InnerException).Throw(); // ML.NET's own exception, with its own stack
            throw;
        }
    }

    /// <summary>Why <paramref name="informationalVersion"/> (e.g. "5.0.1+sha") is not a tested version; null when it is.</summary>
    internal static string? VersionProblem(string? informationalVersion)
    {
        var text = informationalVersion?.Split('+', '-')[0];
        if (!Version.TryParse(text, out var version))
            return $"MLNetClassify could not read the version of Microsoft.ML ('{informationalVersion}'); it is tested with Microsoft.ML {TestedVersions}.";
        if (version < Lowest || version >= Above)
            return $"MLNetClassify emits its softmax layer through internal constructors of Microsoft.ML, tested with versions {TestedVersions}; " +
                $"this process loaded Microsoft.ML {text}. Reference a version in that range (saved models still load with any version that reads them).";
        return null;
    }

    /// <summary>The non-public constructor of <paramref name="type"/> taking <paramref name="parameters"/>, or a NotSupportedException naming it.</summary>
    internal static ConstructorInfo FindConstructor(Type type, Type[] parameters, string what) =>
        type.GetConstructor(BindingFlags.NonPublic | BindingFlags.Instance, null, parameters, null)
            ?? throw new NotSupportedException(
                $"This build of Microsoft.ML lacks the internal constructor {what} that MLNetClassify uses to emit a stock softmax layer; " +
                $"MLNetClassify is tested with Microsoft.ML {TestedVersions}.");

    private static (ConstructorInfo, ConstructorInfo) FindConstructors()
    {
        var version = typeof(MaximumEntropyModelParameters).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion;
        if (VersionProblem(version) is { } problem)
            throw new NotSupportedException(problem);
        return (
            FindConstructor(typeof(MaximumEntropyModelParameters),
                [typeof(IHostEnvironment), typeof(VBuffer<float>[]), typeof(float[]), typeof(int), typeof(int), typeof(string[]), typeof(ModelStatisticsBase)],
                "MaximumEntropyModelParameters(env, weights, bias, classes, features, labelNames, stats)"),
            FindConstructor(typeof(MulticlassPredictionTransformer<MaximumEntropyModelParameters>),
                [typeof(IHostEnvironment), typeof(MaximumEntropyModelParameters), typeof(DataViewSchema), typeof(string), typeof(string), typeof(string), typeof(string)],
                "MulticlassPredictionTransformer(env, model, schema, feature, label, score, predictedLabel)"));
    }
}

using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms;
using MLNetClassify.Data;
using MLNetClassify.Featurization;
using MLNetClassify.Images;

namespace MLNetClassify.Training;

/// <summary>A model trained from a split, with what was measured while training it.</summary>
/// <param name="Model">Label text → key, image → features → softmax, predicted key → label text: save it as is.</param>
/// <param name="InputSchema">Schema to pass to <c>mlContext.Model.Save</c> (columns ImagePath and Label).</param>
/// <param name="Fit">Featurization and head-training details.</param>
/// <param name="Test">Metrics on the split's test images; null when the split has none.</param>
public sealed record TrainedClassifier(ITransformer Model, DataViewSchema InputSchema, ImageClassifierFit Fit, EvaluationSummary? Test);

/// <summary>Multiclass metrics on a set of labelled images.</summary>
/// <param name="Accuracy">Micro accuracy.</param>
/// <param name="MacroAccuracy">Mean per-class accuracy.</param>
/// <param name="LogLoss">Mean cross-entropy.</param>
/// <param name="Images">Images evaluated.</param>
/// <param name="Skipped">Images that could not be read, with reasons.</param>
/// <param name="UnknownLabels">Images whose label the model does not know (left out of the metrics).</param>
/// <param name="ImagesPerSecond">Throughput of the scoring.</param>
/// <param name="ConfusionTable">ML.NET's formatted confusion table.</param>
public sealed record EvaluationSummary(
    double Accuracy, double MacroAccuracy, double LogLoss, int Images,
    IReadOnlyList<SkippedImage> Skipped, IReadOnlyList<LabeledImage> UnknownLabels, double ImagesPerSecond, string ConfusionTable);

/// <summary>
/// The Model Builder-style path from labelled image files to a saved model and its metrics, shared by the CLI
/// and app code: text labels become keys in the saved model, and predictions come back as text.
/// </summary>
public static partial class ClassifierWorkflow
{
    /// <summary>Key column the text label is mapped to.</summary>
    public const string LabelKeyColumn = "LabelKey";

    /// <summary>Text column with the predicted label.</summary>
    public const string PredictedLabelValueColumn = "PredictedLabelValue";

    /// <summary>Trains on <paramref name="split"/>'s training images and evaluates on its test images.</summary>
    /// <param name="mlContext">The ML.NET context.</param>
    /// <param name="split">Training and test images.</param>
    /// <param name="options">Classifier options; label and image column names are set here.</param>
    /// <exception cref="ArgumentException">Fewer than two labels, or no readable training image.</exception>
    /// <exception cref="OperationCanceledException">Cancelled through the options' token.</exception>
    public static TrainedClassifier Train(MLContext mlContext, DataSplit split, ImageClassifierOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(mlContext);
        ArgumentNullException.ThrowIfNull(split);
        options = (options ?? new ImageClassifierOptions()) with
        {
            LabelColumnName = LabelKeyColumn,
            ImageColumnName = nameof(LabeledImage.ImagePath),
            ImageFolder = null,
        };
        var (train, keyMapper) = KeyedTrainingData(mlContext, split);
        var keyed = keyMapper.Transform(train);
        using var featurizer = new ImageFeaturizer(mlContext, options.Backbone, options.Featurizer);
        var fit = new ImageClassifierEstimator(mlContext, options).FitDetailed(keyed, featurizer);
        var toText = mlContext.Transforms.Conversion.MapKeyToValue(PredictedLabelValueColumn, "PredictedLabel").Fit(fit.Model.Transform(keyed));
        var model = new TransformerChain<ITransformer>(keyMapper, fit.Model, toText);

        var test = split.Test.Count > 0
            ? EvaluateWithFeaturizer(mlContext, featurizer, keyMapper, fit, split.Test, options.CancellationToken)
            : null;
        return new TrainedClassifier(model, train.Schema, fit, test);
    }

    /// <summary>
    /// Scores <paramref name="images"/> with a saved (or trained) model through ML.NET's own row-by-row path,
    /// as an application would. Unreadable images and unknown labels are reported and left out.
    /// </summary>
    public static EvaluationSummary Evaluate(MLContext mlContext, ITransformer model, IReadOnlyList<LabeledImage> images, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(model);
        var classes = ModelInfo.Classes(mlContext, model);
        var known = new HashSet<string>(classes, StringComparer.Ordinal);
        var unknown = images.Where(i => !known.Contains(i.Label)).ToList();
        var skipped = ImageCheck.FindUnreadable(images.Where(i => known.Contains(i.Label)).Select(i => i.ImagePath).ToList(), cancellationToken);
        var bad = new HashSet<string>(skipped.Select(s => s.Source), StringComparer.Ordinal);
        var usable = images.Where(i => known.Contains(i.Label) && !bad.Contains(i.ImagePath)).ToList();
        if (usable.Count == 0)
            throw new ArgumentException($"None of the {images.Count} images can be evaluated: {skipped.Count} unreadable, {unknown.Count} with labels the model does not know.");

        var clock = System.Diagnostics.Stopwatch.StartNew();
        var scored = model.Transform(ImageDataset.ToDataView(mlContext, usable));
        // Materialize once: Evaluate would otherwise pull the ONNX column lazily, and cancellation is checked per row.
        var cached = mlContext.Data.Cache(mlContext.Transforms.SelectColumns(LabelKeyColumn, "Score", "PredictedLabel").Fit(scored).Transform(scored));
        using (var cursor = cached.GetRowCursor(cached.Schema))
            while (cursor.MoveNext())
                cancellationToken.ThrowIfCancellationRequested();
        double seconds = clock.Elapsed.TotalSeconds;
        var metrics = mlContext.MulticlassClassification.Evaluate(cached, LabelKeyColumn);
        return new EvaluationSummary(metrics.MicroAccuracy, metrics.MacroAccuracy, metrics.LogLoss, usable.Count, skipped, unknown,
            usable.Count / Math.Max(seconds, 1e-9), metrics.ConfusionMatrix.GetFormattedConfusionTable());
    }

    private static EvaluationSummary EvaluateWithFeaturizer(
        MLContext mlContext, ImageFeaturizer featurizer, ITransformer keyMapper, ImageClassifierFit fit,
        IReadOnlyList<LabeledImage> images, CancellationToken cancellationToken)
    {
        var known = new HashSet<string>(fit.Classes, StringComparer.Ordinal);
        var unknown = images.Where(i => !known.Contains(i.Label)).ToList();
        var usable = images.Where(i => known.Contains(i.Label)).ToList();
        var featurized = featurizer.Featurize(usable.Select(i => ImageSource.FromFile(i.ImagePath)).ToList(), null, cancellationToken);
        if (featurized.Features.Rows == 0)
            throw new ArgumentException($"None of the {images.Count} test images could be evaluated.");
        var rows = featurized.SourceIndices.Select((source, row) => new FeatureRow
        {
            Features = featurized.Features.Row(row).ToArray(),
            Label = usable[source].Label,
        });
        var schema = SchemaDefinition.Create(typeof(FeatureRow));
        schema[nameof(FeatureRow.Features)].ColumnType = new VectorDataViewType(NumberDataViewType.Single, featurized.Features.Dimensions);
        var data = mlContext.Data.LoadFromEnumerable(rows, schema);
        var scored = fit.Head.Transform(keyMapper.Transform(data));
        var metrics = mlContext.MulticlassClassification.Evaluate(scored, LabelKeyColumn);
        return new EvaluationSummary(metrics.MicroAccuracy, metrics.MacroAccuracy, metrics.LogLoss, featurized.Features.Rows,
            featurized.Skipped, unknown, featurized.ImagesPerSecond, metrics.ConfusionMatrix.GetFormattedConfusionTable());
    }

    private sealed class FeatureRow
    {
        public float[] Features { get; set; } = [];
        public string Label { get; set; } = "";
    }
}

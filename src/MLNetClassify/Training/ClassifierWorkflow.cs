using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms;
using MLNetClassify.Data;
using MLNetClassify.Featurization;
using MLNetClassify.Images;
using MLNetClassify.Learning;
using MLNetClassify.Models;
using MLNetClassify.Serving;

namespace MLNetClassify.Training;

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
    /// <param name="featurizationProgress">Receives featurization progress; may be null.</param>
    /// <param name="epochProgress">Receives one report per training epoch; may be null.</param>
    /// <param name="cancellationToken">Stops featurization, training and evaluation.</param>
    /// <returns>The whole chain (label text → key, image → features → softmax, key → label text) with its input schema and the test metrics.</returns>
    /// <exception cref="ArgumentException">Fewer than two labels, or no readable training image.</exception>
    /// <exception cref="OperationCanceledException">Cancelled.</exception>
    public static TrainingResult<ITransformer> Train(MLContext mlContext, DataSplit split, ImageClassifierOptions? options = null,
        IProgress<FeaturizationProgress>? featurizationProgress = null, IProgress<EpochMetrics>? epochProgress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(mlContext);
        ArgumentNullException.ThrowIfNull(split);
        options = (options ?? new ImageClassifierOptions()) with
        {
            LabelColumnName = LabelKeyColumn,
            ImageColumnName = nameof(LabeledImage.ImagePath),
            ImageFolder = null,
        };
        if (options.ChooseTokenPooling && options.Backbone.PrefixTokens > 0)
            return TrainChoosingTokenPooling(mlContext, split, options, featurizationProgress, epochProgress, cancellationToken);
        using var featurizer = new ImageFeaturizer(mlContext, options.Backbone, options.Featurizer);
        return TrainWith(mlContext, split, options, featurizer, null, featurizationProgress, epochProgress, cancellationToken);
    }

    /// <summary>
    /// Retrains a saved model on <paramref name="split"/> (more images, new classes) and evaluates on its test images.
    /// The featurizer graph comes out of the old zip as it is (backbone, input size, pooling, weight storage and
    /// precision are not repeated, and features cached for it are reused); the head starts from the old weights, new
    /// classes from zero, and trains with the same early stopping. Classes of the old model that the new training
    /// images lack are left out of the new model.
    /// </summary>
    /// <param name="mlContext">The ML.NET context.</param>
    /// <param name="modelPath">The saved model zip to start from.</param>
    /// <param name="split">Training and test images.</param>
    /// <param name="options">Head, featurizer (cache, device) and augmentation options; the backbone is the old zip's.</param>
    /// <param name="featurizationProgress">Receives featurization progress; may be null.</param>
    /// <param name="epochProgress">Receives one report per training epoch; may be null.</param>
    /// <param name="cancellationToken">Stops featurization, training and evaluation.</param>
    /// <exception cref="FileNotFoundException">No such model file.</exception>
    /// <exception cref="InvalidDataException">The zip has no MLNetClassify featurizer graph with a softmax head on it.</exception>
    /// <exception cref="ArgumentException">Fewer than two labels, or no readable training image.</exception>
    public static TrainingResult<ITransformer> Retrain(MLContext mlContext, string modelPath, DataSplit split, ImageClassifierOptions? options = null,
        IProgress<FeaturizationProgress>? featurizationProgress = null, IProgress<EpochMetrics>? epochProgress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(mlContext);
        ArgumentNullException.ThrowIfNull(split);
        return Retrain(mlContext, ReadForRetraining(mlContext, modelPath), modelPath, split, options, featurizationProgress, epochProgress, cancellationToken);
    }

    /// <summary>The saved model's featurizer graph and head, as <see cref="Retrain(MLContext, string, DataSplit, ImageClassifierOptions?, IProgress{FeaturizationProgress}?, IProgress{EpochMetrics}?, CancellationToken)"/> starts from.</summary>
    internal static ClassifierModel ReadForRetraining(MLContext mlContext, string modelPath) => ClassifierModel.Read(mlContext, modelPath, "cannot retrain from it");

    /// <summary>Retrains from a saved model already read (the CLI reads it once, to name its classes too).</summary>
    internal static TrainingResult<ITransformer> Retrain(MLContext mlContext, ClassifierModel old, string modelPath, DataSplit split, ImageClassifierOptions? options,
        IProgress<FeaturizationProgress>? featurizationProgress, IProgress<EpochMetrics>? epochProgress, CancellationToken cancellationToken)
    {
        var spec = old.Featurizer.Spec(modelPath);
        options = (options ?? new ImageClassifierOptions()) with
        {
            Backbone = spec,
            LabelColumnName = LabelKeyColumn,
            ImageColumnName = nameof(LabeledImage.ImagePath),
            ImageFolder = null,
        };
        using var featurizer = new ImageFeaturizer(mlContext, spec, old.Featurizer.Graph, options.Featurizer);
        return TrainWith(mlContext, split, options, featurizer, old, featurizationProgress, epochProgress, cancellationToken);
    }

    private static TrainingResult<ITransformer> TrainWith(MLContext mlContext, DataSplit split, ImageClassifierOptions options, ImageFeaturizer featurizer,
        ClassifierModel? warmStart, IProgress<FeaturizationProgress>? featurizationProgress, IProgress<EpochMetrics>? epochProgress, CancellationToken cancellationToken)
    {
        var (train, keyMapper) = KeyedTrainingData(mlContext, split);
        var keyed = keyMapper.Transform(train);
        var fit = new ImageClassifierEstimator(mlContext, options) { WarmStart = warmStart }
            .FitDetailed(keyed, featurizer, featurizationProgress, epochProgress, cancellationToken);
        return Finish(mlContext, split, options, featurizer, keyMapper, train, fit, cancellationToken);
    }

    /// <summary>The fitted head's whole chain (label text → key, …, key → label text) and its test metrics.</summary>
    private static TrainingResult<ITransformer> Finish(MLContext mlContext, DataSplit split, ImageClassifierOptions options, ImageFeaturizer featurizer,
        ITransformer keyMapper, IDataView train, TrainingResult<TransformerChain<ITransformer>> fit, CancellationToken cancellationToken)
    {
        var keyed = keyMapper.Transform(train);
        var toText = mlContext.Transforms.Conversion.MapKeyToValue(PredictedLabelValueColumn, "PredictedLabel").Fit(fit.Model.Transform(keyed));
        var model = new TransformerChain<ITransformer>(keyMapper, fit.Model, toText);

        var test = split.Test.Count > 0
            ? EvaluateWithFeaturizer(mlContext, featurizer, keyMapper, fit, split.Test, options.TestTimeViews, options.AugmentationSeed, cancellationToken)
            : null;
        return Workflow(fit, model, train.Schema, test);
    }

    /// <summary>
    /// Scores <paramref name="images"/> with a saved (or trained) model row by row through its own steps, as an
    /// application would, each file decoded as training decodes it (upright, DCT-scaled, size-limited; see
    /// ImageDecoder). Unreadable images and unknown labels are reported and left out.
    /// </summary>
    public static EvaluationSummary Evaluate(MLContext mlContext, ITransformer model, IReadOnlyList<LabeledImage> images, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(model);
        var classes = ModelInfo.Classes(mlContext, model);
        var known = new HashSet<string>(classes, StringComparer.Ordinal);
        var unknown = images.Where(i => !known.Contains(i.Label)).ToList();
        var candidates = images.Where(i => known.Contains(i.Label)).ToList();
        var skipped = new List<SkippedImage>();

        var clock = System.Diagnostics.Stopwatch.StartNew();
        // Each file is decoded once, as the rows are read; those that cannot be decoded are left out and reported.
        var scored = DecodedImageScorer.Transform(mlContext, model, candidates, skipped.Add);
        // Materialize once: Evaluate would otherwise pull the ONNX column lazily, and cancellation is checked per row.
        var cached = mlContext.Data.Cache(mlContext.Transforms.SelectColumns(LabelKeyColumn, "Score", "PredictedLabel").Fit(scored).Transform(scored));
        int usable = 0;
        using (var cursor = cached.GetRowCursor(cached.Schema))
            while (cursor.MoveNext())
            {
                cancellationToken.ThrowIfCancellationRequested();
                usable++;
            }
        double seconds = clock.Elapsed.TotalSeconds;
        if (usable == 0)
            throw NothingToEvaluate(images.Count, skipped, unknown, classes);
        var metrics = mlContext.MulticlassClassification.Evaluate(cached, LabelKeyColumn);
        return new EvaluationSummary(metrics.MicroAccuracy, metrics.MacroAccuracy, metrics.LogLoss, usable, skipped, unknown,
            usable / Math.Max(seconds, 1e-9), metrics.ConfusionMatrix.GetFormattedConfusionTable());
    }

    /// <summary>
    /// Scores a saved model zip on <paramref name="images"/> in batches: its own featurizer graph (read from the zip, run
    /// by the batched featurizer, through the feature cache when <paramref name="featurizerOptions"/> names one), then
    /// the rest of the saved chain (label keys, head, label text) on the features. The metrics are
    /// <see cref="Evaluate"/>'s up to float rounding. A zip without an MLNetClassify featurizer graph is scored row by
    /// row with <see cref="Evaluate"/>.
    /// </summary>
    /// <exception cref="FileNotFoundException">No such model file.</exception>
    /// <exception cref="InvalidDataException">The file is not an ML.NET model zip.</exception>
    public static EvaluationSummary EvaluateSaved(MLContext mlContext, string modelPath, IReadOnlyList<LabeledImage> images,
        FeaturizerOptions? featurizerOptions = null, CancellationToken cancellationToken = default) =>
        EvaluateSavedAndRelease(mlContext, Models.ModelFiles.Load(mlContext ?? throw new ArgumentNullException(nameof(mlContext)), modelPath),
            modelPath, images, featurizerOptions, cancellationToken);

    /// <summary>Evaluates the model this call loaded, then disposes it (deleting the temporary copy of its ONNX graph that ML.NET writes).</summary>
    private static EvaluationSummary EvaluateSavedAndRelease(MLContext mlContext, ITransformer model, string modelPath, IReadOnlyList<LabeledImage> images,
        FeaturizerOptions? featurizerOptions, CancellationToken cancellationToken)
    {
        using var release = model as IDisposable;
        return EvaluateSaved(mlContext, model, modelPath, images, featurizerOptions, cancellationToken);
    }

    /// <summary><see cref="EvaluateSaved(MLContext, string, IReadOnlyList{LabeledImage}, FeaturizerOptions?, CancellationToken)"/> with the zip already loaded as <paramref name="model"/>.</summary>
    public static EvaluationSummary EvaluateSaved(MLContext mlContext, ITransformer model, string modelPath, IReadOnlyList<LabeledImage> images,
        FeaturizerOptions? featurizerOptions, CancellationToken cancellationToken) =>
        EvaluateSavedWithViews(mlContext, model, modelPath, images, featurizerOptions, 1, 1, cancellationToken);

    /// <summary>
    /// <see cref="EvaluateSaved(MLContext, ITransformer, string, IReadOnlyList{LabeledImage}, FeaturizerOptions?, CancellationToken)"/>
    /// with test-time augmentation: each image's class probabilities are the mean over <paramref name="testTimeViews"/>
    /// views of it (1: the image alone; 2: and its mirror image; k &gt; 2: and k − 2 random resized crops drawn from
    /// <paramref name="seed"/>), each view costing one more backbone pass. Needs the batched path (a zip with an
    /// MLNetClassify featurizer graph).
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="testTimeViews"/> is not in [1, 16].</exception>
    /// <exception cref="InvalidOperationException">More than one view asked of a zip that is scored row by row.</exception>
    public static EvaluationSummary EvaluateSavedWithViews(MLContext mlContext, ITransformer model, string modelPath, IReadOnlyList<LabeledImage> images,
        FeaturizerOptions? featurizerOptions, int testTimeViews, int seed, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(testTimeViews, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(testTimeViews, 16);
        ArgumentNullException.ThrowIfNull(images);
        var saved = Models.ModelFiles.ReadFeaturizerGraph(modelPath);
        // The head was fitted on the ONNX step's column type (ML.NET reads the graph's N×C output as a 1×C vector).
        var featureType = model.GetOutputSchema(ImageDataset.ToDataView(mlContext, []).Schema)
            .GetColumnOrNull(Backbones.FeaturizerGraph.OutputName)?.Type as VectorDataViewType;
        var rest = saved is null || featureType?.Size != saved.Channels ? null : AfterFeaturizer(mlContext, model, featureType);
        if (saved is null || rest is null)
            return testTimeViews == 1
                ? Evaluate(mlContext, model, images, cancellationToken)
                : throw new UnsuitableInputException($"{modelPath}: test-time augmentation needs a model with an MLNetClassify featurizer graph and a head after it; this one is scored row by row.");
        using var featurizer = new ImageFeaturizer(mlContext, saved.Spec(modelPath), saved.Graph, featurizerOptions);
        return EvaluateWithFeaturizer(mlContext, featurizer, ModelInfo.Classes(mlContext, model), featureType, data => rest.Aggregate(data, (view, t) => t.Transform(view)),
            images, testTimeViews, seed, cancellationToken);
    }

    /// <summary>
    /// The saved chain's steps other than the image steps and the featurizer's ONNX step, in order, when they run on a
    /// table of ImagePath, Label and Features alone; null otherwise.
    /// </summary>
    /// <remarks>
    /// Relies on how ML.NET loads a saved chain (tested range, see StockSoftmaxLayer): nested TransformerChains of
    /// concrete transformer types, the image steps as ImageLoadingTransformer, ImageResizingTransformer and
    /// ImagePixelExtractingTransformer, each ApplyOnnxModel step as one OnnxTransformer. The split is checked, not
    /// assumed: the remaining steps must give a Score column on the features table, else this returns null and the
    /// caller scores row by row (EvaluateSavedTests covers both outcomes).
    /// </remarks>
    private static List<ITransformer>? AfterFeaturizer(MLContext mlContext, ITransformer model, VectorDataViewType featureType)
    {
        var leaves = ModelInfo.Leaves(model).ToList();
        // One ONNX step: the featurizer (models with further ONNX steps, such as a pooling or perceptron trunk, go row by row).
        var onnx = leaves.OfType<Microsoft.ML.Transforms.Onnx.OnnxTransformer>().ToList();
        if (onnx.Count != 1)
            return null;
        var rest = leaves.Where(t => t != onnx[0] && t is not (ImageLoadingTransformer
            or Microsoft.ML.Transforms.Image.ImageResizingTransformer or Microsoft.ML.Transforms.Image.ImagePixelExtractingTransformer)).ToList();
        try
        {
            var schema = mlContext.Data.LoadFromEnumerable(Array.Empty<FeatureRow>(), FeatureRowSchema(featureType)).Schema;
            foreach (var t in rest)
                schema = t.GetOutputSchema(schema);
            return schema.GetColumnOrNull("Score") is null ? null : rest;
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException)
        {
            return null; // a step needs a column the features table lacks: score row by row
        }
    }

    private static SchemaDefinition FeatureRowSchema(VectorDataViewType featureType)
    {
        var schema = SchemaDefinition.Create(typeof(FeatureRow));
        schema[nameof(FeatureRow.Features)].ColumnType = featureType;
        return schema;
    }

    private static EvaluationSummary EvaluateWithFeaturizer(
        MLContext mlContext, ImageFeaturizer featurizer, ITransformer keyMapper, TrainingResult<TransformerChain<ITransformer>> fit,
        IReadOnlyList<LabeledImage> images, int testTimeViews, int seed, CancellationToken cancellationToken) =>
        EvaluateWithFeaturizer(mlContext, featurizer, fit.Classes, null, data => fit.Head!.Transform(keyMapper.Transform(data)), images, testTimeViews, seed, cancellationToken);

    private static EvaluationSummary EvaluateWithFeaturizer(
        MLContext mlContext, ImageFeaturizer featurizer, IReadOnlyList<string> classes, VectorDataViewType? featureType, Func<IDataView, IDataView> score,
        IReadOnlyList<LabeledImage> images, int testTimeViews, int seed, CancellationToken cancellationToken)
    {
        var known = new HashSet<string>(classes, StringComparer.Ordinal);
        var unknown = images.Where(i => !known.Contains(i.Label)).ToList();
        var usable = images.Where(i => known.Contains(i.Label)).ToList();
        var featurized = featurizer.Featurize(usable.Select(i => ImageSource.FromFile(i.ImagePath)).ToList(), null, cancellationToken);
        if (featurized.Features.Rows == 0)
            throw NothingToEvaluate(images.Count, featurized.Skipped, unknown, classes);
        var rows = featurized.SourceIndices.Select((source, row) => new FeatureRow
        {
            ImagePath = usable[source].ImagePath,
            Features = featurized.Features.Row(row).ToArray(),
            Label = usable[source].Label,
        });
        var schema = FeatureRowSchema(featureType ?? new VectorDataViewType(NumberDataViewType.Single, featurized.Features.Dimensions));
        var data = mlContext.Data.LoadFromEnumerable(rows, schema);
        if (testTimeViews > 1)
            return TestTimeAugmented(mlContext, featurizer, classes, schema, score, usable, featurized, unknown, testTimeViews, seed, cancellationToken);
        var metrics = mlContext.MulticlassClassification.Evaluate(score(data), LabelKeyColumn);
        return new EvaluationSummary(metrics.MicroAccuracy, metrics.MacroAccuracy, metrics.LogLoss, featurized.Features.Rows,
            featurized.Skipped, unknown, featurized.ImagesPerSecond, metrics.ConfusionMatrix.GetFormattedConfusionTable())
        {
            Batched = true,
            CacheHits = featurized.CacheHits,
            CacheWarnings = featurized.CacheWarnings,
        };
    }

    /// <summary>
    /// Metrics of probabilities averaged over <paramref name="views"/> views of each image (view 0 is the image itself,
    /// already featurized in <paramref name="featurized"/>), each view's probabilities from the model's own head.
    /// </summary>
    private static EvaluationSummary TestTimeAugmented(MLContext mlContext, ImageFeaturizer featurizer, IReadOnlyList<string> classes, SchemaDefinition schema,
        Func<IDataView, IDataView> score, IReadOnlyList<LabeledImage> usable, FeaturizationResult featurized, IReadOnlyList<LabeledImage> unknown,
        int views, int seed, CancellationToken cancellationToken)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var readable = featurized.SourceIndices.Select(i => usable[i]).ToList();
        var probabilities = TestTimeProbabilities(mlContext, featurizer, schema, score, readable, featurized.Features, views, seed, cancellationToken);
        var labels = readable.Select(i => classes.ToList().IndexOf(i.Label)).ToArray();
        var metrics = ClassificationMetrics.Of(probabilities, labels, classes);
        double seconds = clock.Elapsed.TotalSeconds + readable.Count / Math.Max(featurized.ImagesPerSecond, 1e-9);
        return new EvaluationSummary(metrics.Accuracy, metrics.MacroAccuracy, metrics.LogLoss, readable.Count, featurized.Skipped, unknown,
            readable.Count / seconds, metrics.ConfusionTable)
        {
            Batched = true,
            CacheHits = featurized.CacheHits,
            CacheWarnings = featurized.CacheWarnings,
        };
    }

    /// <summary>Per image, the mean of the model's class probabilities over <paramref name="views"/> views (view 0: <paramref name="plain"/>).</summary>
    internal static double[][] TestTimeProbabilities(MLContext mlContext, ImageFeaturizer featurizer, SchemaDefinition schema,
        Func<IDataView, IDataView> score, IReadOnlyList<LabeledImage> images, FeatureMatrix plain, int views, int seed, CancellationToken cancellationToken)
    {
        var sum = new double[images.Count][];
        var sources = images.Select(i => ImageSource.FromFile(i.ImagePath)).ToList();
        for (int v = 0; v < views; v++)
        {
            var features = v == 0 ? plain : featurizer.FeaturizeView(sources, v, seed, null, cancellationToken).Features;
            if (features.Rows != images.Count)
                throw new InvalidDataException($"An image read for view 0 could not be read for view {v}; was a file changed during evaluation?");
            var rows = images.Select((image, row) => new FeatureRow { ImagePath = image.ImagePath, Features = features.Row(row).ToArray(), Label = image.Label });
            var scores = score(mlContext.Data.LoadFromEnumerable(rows, schema)).GetColumn<float[]>("Score").ToArray();
            for (int i = 0; i < scores.Length; i++)
            {
                sum[i] ??= new double[scores[i].Length];
                for (int k = 0; k < scores[i].Length; k++)
                    sum[i][k] += scores[i][k] / views;
            }
        }
        return sum;
    }

    /// <summary>Why none of <paramref name="count"/> images could be evaluated: unreadable ones, labels the model does not know (both label sets named).</summary>
    private static ArgumentException NothingToEvaluate(int count, IReadOnlyList<SkippedImage> skipped, IReadOnlyList<LabeledImage> unknown, IReadOnlyList<string> classes)
    {
        static string List(IEnumerable<string> labels) => string.Join(", ", labels.Take(12)) + (labels.Count() > 12 ? ", ..." : "");
        var message = $"None of the {count} images can be evaluated:";
        if (unknown.Count > 0)
            message += $" {unknown.Count} have labels the model does not know ({List(unknown.Select(u => u.Label).Distinct().Order(StringComparer.Ordinal))}; "
                + $"the model's classes: {List(classes)}){(skipped.Count > 0 ? "," : ".")}";
        if (skipped.Count > 0)
            message += $" {skipped.Count} cannot be read (first: {skipped[0].Source}: {skipped[0].Reason}).";
        if (unknown.Count == count)
            message += " Is this the data the model was trained for?";
        return new ArgumentException(message);
    }

    private sealed class FeatureRow
    {
        public string ImagePath { get; set; } = "";
        public float[] Features { get; set; } = [];
        public string Label { get; set; } = "";
    }
}

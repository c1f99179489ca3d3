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
    public const string LabelKeyColumn = ClassifierModel.LabelKeyColumn;

    /// <summary>Text column with the predicted label.</summary>
    public const string PredictedLabelValueColumn = ClassifierModel.PredictedLabelValueColumn;

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
        ArgumentOutOfRangeException.ThrowIfNegative(options.FineTuneStages);
        if (options.FineTuneStages > 0)
            return TrainFineTuned(mlContext, split, options, null, featurizationProgress, epochProgress, cancellationToken);
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
        var spec = old.Trunk.Spec(modelPath);
        options = (options ?? new ImageClassifierOptions()) with
        {
            Backbone = spec,
            LabelColumnName = LabelKeyColumn,
            ImageColumnName = nameof(LabeledImage.ImagePath),
            ImageFolder = null,
        };
        ArgumentOutOfRangeException.ThrowIfNegative(options.FineTuneStages);
        if (options.FineTuneStages > 0) // the saved graph's stage tuned again, under a head trained afresh on it
            return TrainFineTuned(mlContext, split, options, old.Trunk.Graph, featurizationProgress, epochProgress, cancellationToken);
        using var featurizer = new ImageFeaturizer(mlContext, spec, old.Trunk.Graph, options.Featurizer);
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
        EvaluationSummary? test = null;
        if (split.Test.Count > 0)
        {
            // The trained model as the library holds it: the featurizer's graph, the softmax layer the chain was made from.
            var trunk = new ClassifierTrunk(featurizer.Graph, featurizer.Backbone.Name, featurizer.Backbone.ResizeSize, featurizer.Dimensions);
            using var scorer = new ClassifierScorer(new ClassifierModel(trunk, fit.Tail!, fit.Classes), featurizer);
            test = EvaluateThrough(scorer, split.Test, options.TestTimeViews, options.AugmentationSeed, cancellationToken);
        }
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
        var index = classes.Select((c, i) => (c, i)).ToDictionary(p => p.c, p => p.i, StringComparer.Ordinal);
        var unknown = images.Where(i => !index.ContainsKey(i.Label)).ToList();
        var candidates = images.Where(i => index.ContainsKey(i.Label)).ToList();
        var skipped = new List<SkippedImage>();

        var clock = System.Diagnostics.Stopwatch.StartNew();
        // Each file is decoded once, as the rows are read; those that cannot be decoded are left out and reported.
        var scored = DecodedImageScorer.Transform(mlContext, model, candidates, skipped.Add);
        var probabilities = new List<float[]>();
        var labels = new List<int>();
        using (var cursor = scored.GetRowCursor(scored.Schema.Where(c => c.Name is "Score" or nameof(LabeledImage.Label))))
        {
            var score = cursor.GetGetter<VBuffer<float>>(scored.Schema["Score"]);
            var label = cursor.GetGetter<ReadOnlyMemory<char>>(scored.Schema[nameof(LabeledImage.Label)]);
            VBuffer<float> row = default;
            ReadOnlyMemory<char> text = default;
            while (cursor.MoveNext())
            {
                cancellationToken.ThrowIfCancellationRequested();
                score(ref row);
                label(ref text);
                probabilities.Add(row.DenseValues().ToArray());
                labels.Add(index[text.ToString()]);
            }
        }
        double seconds = clock.Elapsed.TotalSeconds;
        if (probabilities.Count == 0)
            throw NothingToEvaluate(images.Count, skipped, unknown, classes);
        var metrics = ClassificationMetrics.Of(probabilities, labels, classes);
        return Summary(metrics, probabilities.Count, skipped, unknown, probabilities.Count / Math.Max(seconds, 1e-9));
    }

    private static EvaluationSummary Summary(ClassificationMetrics metrics, int images, IReadOnlyList<SkippedImage> skipped, IReadOnlyList<LabeledImage> unknown,
        double imagesPerSecond) =>
        new(metrics.Accuracy, metrics.MacroAccuracy, metrics.LogLoss, images, skipped, unknown, imagesPerSecond, metrics.ConfusionTable);

    /// <summary>
    /// Scores a saved model zip on <paramref name="images"/> through its <see cref="ClassifierModel"/>: the featurizer
    /// graph read from the zip, run by the batched featurizer (through the feature cache when
    /// <paramref name="featurizerOptions"/> names one), then the softmax layer on the features. The metrics are
    /// <see cref="Evaluate"/>'s up to float rounding. A zip that is not such a model (a pixel perceptron, a chain with
    /// other steps) is scored row by row with <see cref="Evaluate"/>.
    /// </summary>
    /// <exception cref="FileNotFoundException">No such model file.</exception>
    /// <exception cref="InvalidDataException">The file is not an ML.NET model zip.</exception>
    public static EvaluationSummary EvaluateSaved(MLContext mlContext, string modelPath, IReadOnlyList<LabeledImage> images,
        FeaturizerOptions? featurizerOptions = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(mlContext);
        if (ClassifierModel.TryReadRecorded(modelPath) is { } recorded) // no ML.NET load needed
            return EvaluateSaved(mlContext, recorded, modelPath, images, featurizerOptions, 1, 1, cancellationToken);
        var model = ModelFiles.Load(mlContext, modelPath);
        using var release = model as IDisposable; // deletes the temporary copy of its ONNX graph that ML.NET writes
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
    /// <paramref name="seed"/>), each view costing one more backbone pass. Needs a zip holding a classifier model.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="testTimeViews"/> is not in [1, 16].</exception>
    /// <exception cref="UnsuitableInputException">More than one view asked of a zip that is scored row by row.</exception>
    public static EvaluationSummary EvaluateSavedWithViews(MLContext mlContext, ITransformer model, string modelPath, IReadOnlyList<LabeledImage> images,
        FeaturizerOptions? featurizerOptions, int testTimeViews, int seed, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(testTimeViews, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(testTimeViews, 16);
        ArgumentNullException.ThrowIfNull(images);
        ArgumentNullException.ThrowIfNull(model);
        if (ClassifierModel.TryRead(mlContext, modelPath, model) is { } classifier)
            return EvaluateSaved(mlContext, classifier, modelPath, images, featurizerOptions, testTimeViews, seed, cancellationToken);
        return testTimeViews == 1
            ? Evaluate(mlContext, model, images, cancellationToken)
            : throw new UnsuitableInputException($"{modelPath}: test-time augmentation needs a model with an MLNetClassify featurizer graph and a softmax head directly on it; this one is scored row by row.");
    }

    private static EvaluationSummary EvaluateSaved(MLContext mlContext, ClassifierModel classifier, string modelPath, IReadOnlyList<LabeledImage> images,
        FeaturizerOptions? featurizerOptions, int views, int seed, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(views, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(views, 16);
        using var scorer = new ClassifierScorer(mlContext, classifier, modelPath, featurizerOptions);
        return EvaluateThrough(scorer, images, views, seed, cancellationToken);
    }

    /// <summary>Metrics of <paramref name="images"/> through the one scoring path.</summary>
    private static EvaluationSummary EvaluateThrough(ClassifierScorer scorer, IReadOnlyList<LabeledImage> images, int views, int seed, CancellationToken cancellationToken)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var (metrics, scored, _, unknown) = scorer.Evaluate(images, views, seed, cancellationToken);
        if (metrics is null)
            throw NothingToEvaluate(images.Count, scored!.Featurized.Skipped, unknown, scorer.Model.Classes);
        int rows = scored!.Probabilities.Length;
        var featurized = scored.Featurized;
        // One view: the featurizer's own rate (cache hits included); several: the whole pass.
        double rate = views == 1 ? featurized.ImagesPerSecond : rows / Math.Max(clock.Elapsed.TotalSeconds, 1e-9);
        return Summary(metrics, rows, featurized.Skipped, unknown, rate) with
        {
            Batched = true,
            CacheHits = featurized.CacheHits,
            CacheWarnings = featurized.CacheWarnings,
        };
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
}

using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Trainers;
using MLNetClassify.Data;
using MLNetClassify.Featurization;
using MLNetClassify.Heads;
using MLNetClassify.Images;
using MLNetClassify.Learning;

namespace MLNetClassify.Training;

/// <summary>
/// Transfer learning in one estimator: image (path or in-memory) + label key → pretrained backbone features →
/// softmax head. Training featurizes in batches on all cores; the fitted model is a chain of stock ML.NET
/// transformers (load, resize, pixels, ONNX featurizer graph embedded in the zip, softmax layer) that saves
/// with <c>mlContext.Model.Save</c> and reloads in any process with <c>mlContext.Model.Load</c>.
/// </summary>
public sealed class ImageClassifierEstimator : IEstimator<TransformerChain<ITransformer>>
{
    private readonly MLContext _mlContext;
    private readonly ImageClassifierOptions _options;
    private readonly ImageFeaturizingEstimator _featurizing;

    internal ImageClassifierEstimator(MLContext mlContext, ImageClassifierOptions options)
    {
        _mlContext = mlContext;
        _options = options ?? throw new ArgumentNullException(nameof(options));
        _options.Head.Validate();
        if (_options.AugmentedViews is < 0 or > 16)
            throw new ArgumentOutOfRangeException(nameof(options), _options.AugmentedViews, "AugmentedViews must be in [0, 16].");
        _featurizing = new ImageFeaturizingEstimator(mlContext, options.FeatureColumnName, options.ImageColumnName, options.Backbone, options.ImageFolder);
    }

    /// <summary>
    /// A saved model to start from (retraining): its featurizer graph is run as it is, and its head's weights are where
    /// training starts for the classes it knows (new classes start from zero).
    /// </summary>
    internal Models.ClassifierModel? WarmStart { get; init; }

    /// <inheritdoc/>
    public TransformerChain<ITransformer> Fit(IDataView input) => FitDetailed(input).Model;

    /// <summary>Fits, and returns what was measured on the way.</summary>
    /// <param name="input">Rows with the label key and image columns.</param>
    /// <param name="featurizationProgress">Receives featurization progress (images done, img/s); may be null.</param>
    /// <param name="epochProgress">Receives one report per training epoch; may be null.</param>
    /// <param name="cancellationToken">Stops featurization and training; the call then throws <see cref="OperationCanceledException"/>.</param>
    /// <exception cref="ArgumentException">Columns are missing or of the wrong type, or no image could be read.</exception>
    public TrainingResult<TransformerChain<ITransformer>> FitDetailed(IDataView input, IProgress<FeaturizationProgress>? featurizationProgress = null,
        IProgress<EpochMetrics>? epochProgress = null, CancellationToken cancellationToken = default)
    {
        using var featurizer = new ImageFeaturizer(_mlContext, _options.Backbone, _options.Featurizer);
        return FitDetailed(input, featurizer, featurizationProgress, epochProgress, cancellationToken);
    }

    /// <summary>Fits with a featurizer the caller owns and may go on using (one ONNX Runtime session for train and test).</summary>
    internal TrainingResult<TransformerChain<ITransformer>> FitDetailed(IDataView input, ImageFeaturizer featurizer,
        IProgress<FeaturizationProgress>? featurizationProgress, IProgress<EpochMetrics>? epochProgress, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(input);
        var (sources, labels, classes, unlabeled) = LabeledImageInput.Read(input, _options.LabelColumnName, _options.ImageColumnName, _options.ImageFolder);
        var featurized = featurizer.Featurize(sources, featurizationProgress, cancellationToken);
        if (featurized.Features.Rows == 0)
            throw new ArgumentException($"None of the {sources.Count} training images could be read; first problem: {featurized.Skipped.FirstOrDefault()?.Source}: {featurized.Skipped.FirstOrDefault()?.Reason}");
        var rowLabels = featurized.SourceIndices.Select(i => labels[i]).ToArray();
        if (!_options.AllowEmptyClasses)
            RequireEveryClass(classes, rowLabels, labels, sources, featurized.Skipped);
        var (features, views) = (featurized.Features, 1);
        if (_options.AugmentedViews > 0)
            (features, rowLabels, views) = WithAugmentedViews(featurizer, sources, featurized, rowLabels, featurizationProgress, cancellationToken);
        var (initial, known) = WarmStart is { } old ? InitialHead(old, classes, features.Dimensions) : (null, null);
        // Images the old head trained on (when its zip lists them) are kept out of validation: they would make the start
        // look best. In-memory images cannot be looked up, and count as seen.
        var trained = TrainedFiles(sources, featurized);
        bool[]? seen = null;
        if (WarmStart?.TrainedImages is { } before)
        {
            seen = new bool[featurized.SourceIndices.Length];
            for (int row = 0, file = 0; row < seen.Length; row++)
                seen[row] = sources[featurized.SourceIndices[row]].Path is null || before.Contains(trained.Keys[file++]);
        }
        var training = new SoftmaxHeadTrainer(_options.Head).Train(features, rowLabels, classes.Count, epochProgress, cancellationToken, views, initial, known, seen);

        var featurizing = new ImageFeaturizingEstimator(_mlContext, _options.FeatureColumnName, _options.ImageColumnName, _options.Backbone,
            _options.ImageFolder, featurizer.Device, _options.Featurizer.RequireDevice, graph: WarmStart?.Trunk.Graph);
        var featurizerModel = featurizing.Fit(input);
        var headSchema = featurizerModel.GetOutputSchema(input.Schema);
        var head = StockSoftmaxLayer.Create(_mlContext, training.Model, headSchema, _options.FeatureColumnName, _options.LabelColumnName);
        var model = new TransformerChain<ITransformer>(featurizerModel, head);
        return new TrainingResult<TransformerChain<ITransformer>>(model, classes, training.BestEpoch, training.History,
            training.Model.Weights.Length + training.Model.Bias.Length)
        {
            Images = featurized,
            UnlabeledRows = unlabeled,
            DeviceFallback = featurizer.FallbackReason,
            Head = head,
            Tail = training.Model,
            TrunkGraph = featurizer.Graph,
            TrainedImages = trained,
        };
    }

    /// <summary>The training files that were featurized, with the content hashes the cache computed for them.</summary>
    private static TrainedImageList TrainedFiles(IReadOnlyList<Images.ImageSource> sources, FeaturizationResult featurized)
    {
        var files = featurized.SourceIndices.Where(i => sources[i].Path is not null).ToList();
        return new TrainedImageList(files.Select(i => sources[i].Path!).ToList(), files.Select(i => featurized.ContentHashes?[i]).ToList());
    }

    /// <summary>The saved head's weights and biases for the classes it knows, by name, zeros for new classes; and which it knew.</summary>
    private static (SoftmaxLayer, bool[]) InitialHead(Models.ClassifierModel old, IReadOnlyList<string> classes, int d)
    {
        if (old.Tail.Features != d)
            throw new InvalidDataException($"The saved head takes {old.Tail.Features} features, its featurizer gives {d}.");
        var weights = new float[classes.Count * d];
        var bias = new float[classes.Count];
        var knew = new bool[classes.Count];
        for (int c = 0; c < classes.Count; c++)
        {
            int known = old.ClassIndex(classes[c]);
            if (known < 0) continue;
            old.Tail.Weights.AsSpan(known * d, d).CopyTo(weights.AsSpan(c * d, d));
            bias[c] = old.Tail.Bias[known];
            knew[c] = true;
        }
        return (new SoftmaxLayer(weights, bias, d), knew);
    }

    /// <summary>
    /// The featurized rows followed by <see cref="ImageClassifierOptions.AugmentedViews"/> blocks of augmented views of the
    /// same images in the same order (labels repeated), for a head trainer that holds out whole images.
    /// </summary>
    private (FeatureMatrix Features, int[] Labels, int Views) WithAugmentedViews(ImageFeaturizer featurizer, IReadOnlyList<ImageSource> sources,
        FeaturizationResult featurized, int[] labels, IProgress<FeaturizationProgress>? progress, CancellationToken cancellationToken)
    {
        int n = featurized.Features.Rows, d = featurized.Features.Dimensions, views = 1 + _options.AugmentedViews;
        var readable = featurized.SourceIndices.Select(i => sources[i]).ToList();
        var values = new float[(long)views * n * d];
        featurized.Features.Values.AsSpan(0, n * d).CopyTo(values);
        for (int v = 1; v < views; v++)
        {
            var offset = progress is null ? null : new Progress<FeaturizationProgress>(p => progress.Report(p with { Done = v * n + p.Done, Total = views * n }));
            var view = featurizer.FeaturizeView(readable, v, _options.AugmentationSeed, offset, cancellationToken);
            if (view.Features.Rows != n)
                throw new InvalidDataException($"{view.Skipped.FirstOrDefault()?.Source}: read once, unreadable the second time ({view.Skipped.FirstOrDefault()?.Reason}); was it changed during training?");
            view.Features.Values.AsSpan(0, n * d).CopyTo(values.AsSpan(v * n * d));
        }
        var allLabels = Enumerable.Range(0, views).SelectMany(_ => labels).ToArray();
        return (new FeatureMatrix(values, views * n, d), allLabels, views);
    }

    /// <summary>Throws, naming them, when classes have no featurized training row, and why (none listed, or all unreadable).</summary>
    private static void RequireEveryClass(IReadOnlyList<string> classes, int[] rowLabels, IReadOnlyList<int> labels, IReadOnlyList<ImageSource> sources,
        IReadOnlyList<SkippedImage> skipped)
    {
        var present = rowLabels.ToHashSet();
        var empty = Enumerable.Range(0, classes.Count).Where(c => !present.Contains(c)).ToList();
        if (empty.Count == 0) return;
        var reasons = empty.Select(c =>
        {
            int listed = labels.Count(l => l == c);
            var first = skipped.FirstOrDefault(s => labels[s.Index] == c);
            return listed == 0
                ? $"'{classes[c]}' (no image listed)"
                : $"'{classes[c]}' ({listed} listed, none readable; first: {first?.Source}: {first?.Reason})";
        });
        throw new ArgumentException($"{empty.Count} of {classes.Count} classes have no usable training image: {string.Join("; ", reasons.Take(5))}"
            + $"{(empty.Count > 5 ? "; ..." : "")}. Fix the paths (a split file's paths are relative to the data folder), leave those classes out, "
            + "or allow classes without training images (ImageClassifierOptions.AllowEmptyClasses; train --allow-empty-classes).");
    }

    /// <inheritdoc/>
    public SchemaShape GetOutputSchema(SchemaShape inputSchema) =>
        _mlContext.MulticlassClassification.Trainers.LbfgsMaximumEntropy(_options.LabelColumnName, _options.FeatureColumnName)
            .GetOutputSchema(_featurizing.GetOutputSchema(inputSchema));
}

using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Trainers;
using MLNetClassify.Featurization;
using MLNetClassify.Heads;
using MLNetClassify.Images;
using MLNetClassify.Persistence;

namespace MLNetClassify.Training;

/// <summary>What fitting an <see cref="ImageClassifierEstimator"/> produced and measured.</summary>
/// <param name="Model">The fitted chain: stock ML.NET transformers only, ready for Save and PredictionEngine.</param>
/// <param name="Head">The chain's last step, the softmax layer, which also scores features made by <see cref="ImageFeaturizer"/>.</param>
/// <param name="Featurization">Batched featurization of the training images (throughput, skipped images).</param>
/// <param name="Training">The head's epoch history.</param>
/// <param name="Classes">Label names in key order.</param>
/// <param name="UnlabeledRows">Rows left out because their label key was missing.</param>
/// <param name="DeviceFallback">Why the requested device was not used (the CPU was); null when it was.</param>
public sealed record ImageClassifierFit(
    TransformerChain<ITransformer> Model,
    MulticlassPredictionTransformer<MaximumEntropyModelParameters> Head,
    FeaturizationResult Featurization,
    SoftmaxHeadResult Training,
    IReadOnlyList<string> Classes,
    int UnlabeledRows,
    string? DeviceFallback);

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
        _featurizing = new ImageFeaturizingEstimator(mlContext, options.FeatureColumnName, options.ImageColumnName, options.Backbone, options.ImageFolder);
    }

    /// <inheritdoc/>
    public TransformerChain<ITransformer> Fit(IDataView input) => FitDetailed(input).Model;

    /// <summary>Fits, and returns what was measured on the way.</summary>
    /// <exception cref="ArgumentException">Columns are missing or of the wrong type, or no image could be read.</exception>
    /// <exception cref="OperationCanceledException">Cancelled through the options' token.</exception>
    public ImageClassifierFit FitDetailed(IDataView input)
    {
        using var featurizer = new ImageFeaturizer(_mlContext, _options.Backbone, _options.Featurizer);
        return FitDetailed(input, featurizer);
    }

    /// <summary>Fits with a featurizer the caller owns and may go on using (one ONNX Runtime session for train and test).</summary>
    internal ImageClassifierFit FitDetailed(IDataView input, ImageFeaturizer featurizer)
    {
        ArgumentNullException.ThrowIfNull(input);
        var (sources, labels, classes, unlabeled) = ReadInput(input);
        var featurized = featurizer.Featurize(sources, _options.FeaturizationProgress, _options.CancellationToken);
        if (featurized.Features.Rows == 0)
            throw new ArgumentException($"None of the {sources.Count} training images could be read; first problem: {featurized.Skipped.FirstOrDefault()?.Source}: {featurized.Skipped.FirstOrDefault()?.Reason}");
        var rowLabels = featurized.SourceIndices.Select(i => labels[i]).ToArray();
        var training = new SoftmaxHeadTrainer(_options.Head).Train(featurized.Features, rowLabels, classes.Count, _options.CancellationToken);

        var featurizing = new ImageFeaturizingEstimator(_mlContext, _options.FeatureColumnName, _options.ImageColumnName, _options.Backbone,
            _options.ImageFolder, featurizer.Device, _options.Featurizer.RequireDevice);
        var featurizerModel = featurizing.Fit(input);
        var headSchema = featurizerModel.GetOutputSchema(input.Schema);
        var head = StockSoftmaxLayer.Create(_mlContext, training.Model, headSchema, _options.FeatureColumnName, _options.LabelColumnName);
        var model = new TransformerChain<ITransformer>(featurizerModel, head);
        return new ImageClassifierFit(model, head, featurized, training, classes, unlabeled, featurizer.FallbackReason);
    }

    /// <inheritdoc/>
    public SchemaShape GetOutputSchema(SchemaShape inputSchema) =>
        _mlContext.MulticlassClassification.Trainers.LbfgsMaximumEntropy(_options.LabelColumnName, _options.FeatureColumnName)
            .GetOutputSchema(_featurizing.GetOutputSchema(inputSchema));

    private (List<ImageSource> Sources, List<int> Labels, IReadOnlyList<string> Classes, int Unlabeled) ReadInput(IDataView input)
    {
        var label = input.Schema.GetColumnOrNull(_options.LabelColumnName)
            ?? throw new ArgumentException($"Input has no label column '{_options.LabelColumnName}'.", nameof(input));
        if (label.Type is not KeyDataViewType key || key.Count < 2)
            throw new ArgumentException($"Label column '{_options.LabelColumnName}' is {label.Type}; it must be a key with at least two values (use mlContext.Transforms.Conversion.MapValueToKey).", nameof(input));
        var image = input.Schema.GetColumnOrNull(_options.ImageColumnName)
            ?? throw new ArgumentException($"Input has no image column '{_options.ImageColumnName}'.", nameof(input));
        bool isPath = image.Type is TextDataViewType;
        if (!isPath && image.Type.RawType != typeof(MLImage))
            throw new ArgumentException($"Image column '{_options.ImageColumnName}' is {image.Type}: expected a path (text) or an MLImage.", nameof(input));

        var classes = StockSoftmaxLayer.LabelNames(label) ?? Enumerable.Range(1, (int)key.Count).Select(i => i.ToString()).ToArray();
        var sources = new List<ImageSource>();
        var labels = new List<int>();
        int unlabeled = 0, row = 0;
        using var cursor = input.GetRowCursor([label, image]);
        var getLabel = cursor.GetGetter<uint>(label);
        var getPath = isPath ? cursor.GetGetter<ReadOnlyMemory<char>>(image) : null;
        var getImage = isPath ? null : cursor.GetGetter<MLImage>(image);
        uint k = 0;
        ReadOnlyMemory<char> path = default;
        MLImage picture = null!;
        while (cursor.MoveNext())
        {
            row++;
            getLabel(ref k);
            if (k == 0) { unlabeled++; continue; }
            if (getPath is not null)
            {
                getPath(ref path);
                var file = path.ToString();
                if (_options.ImageFolder is not null) file = Path.Combine(_options.ImageFolder, file);
                sources.Add(ImageSource.FromFile(file));
            }
            else
            {
                getImage!(ref picture);
                sources.Add(ImageSource.FromImage(picture, $"row {row}"));
            }
            labels.Add((int)k - 1);
        }
        if (sources.Count == 0)
            throw new ArgumentException($"No row of the input has a label in '{_options.LabelColumnName}'.", nameof(input));
        return (sources, labels, classes, unlabeled);
    }
}

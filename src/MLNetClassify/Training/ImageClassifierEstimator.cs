using MLNetClassify.Data;
using MLNetClassify.Featurization;
using MLNetClassify.Heads;
using MLNetClassify.Images;
using MLNetClassify.Learning;
using Microsoft.ML.Data;
using Microsoft.ML.Trainers;
using Microsoft.ML;

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
        var (sources, labels, classes, unlabeled) = LabeledImageInput.Read(input, _options.LabelColumnName, _options.ImageColumnName, _options.ImageFolder);
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
}

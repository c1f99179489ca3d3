using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Trainers;
using MLNetClassify.Images;
using MLNetClassify.Learning;

namespace MLNetClassify.Perceptrons;

/// <summary>
/// A perceptron on raw pixels, no backbone: image (path or in-memory) + label key → resize to S×S → 3·S·S values →
/// hidden ReLU layers (none for the single-layer perceptron) → softmax. The baseline that shows what pretrained CNN
/// features add. The fitted model saves and reloads with stock ML.NET like the CNN classifier: its hidden layers
/// ride in an ONNX graph under ApplyOnnxModel and its softmax layer is ML.NET's own.
/// </summary>
public sealed class PixelPerceptronEstimator : IEstimator<TransformerChain<ITransformer>>
{
    private readonly MLContext _mlContext;
    private readonly PerceptronOptions _options;

    internal PixelPerceptronEstimator(MLContext mlContext, PerceptronOptions options)
    {
        _mlContext = mlContext;
        _options = options ?? throw new ArgumentNullException(nameof(options));
        _options.Validate();
    }

    /// <inheritdoc/>
    public TransformerChain<ITransformer> Fit(IDataView input) => FitDetailed(input).Model;

    /// <summary>Fits, and returns what was measured on the way.</summary>
    /// <param name="input">Rows with the label key and image columns.</param>
    /// <param name="progress">Receives one report per epoch; may be null.</param>
    /// <param name="cancellationToken">Stops reading and training; the call then throws <see cref="OperationCanceledException"/>.</param>
    /// <exception cref="ArgumentException">Columns are missing or of the wrong type, or no image could be read.</exception>
    public TrainingResult<TransformerChain<ITransformer>> FitDetailed(
        IDataView input, IProgress<EpochMetrics>? progress = null, CancellationToken cancellationToken = default) =>
        FitWithWeights(input, progress, cancellationToken).Result;

    /// <summary>Fits, and also returns the trained weights (for tests that check the saved model's arithmetic).</summary>
    internal (TrainingResult<TransformerChain<ITransformer>> Result, PerceptronModel Perceptron) FitWithWeights(
        IDataView input, IProgress<EpochMetrics>? progress, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(input);
        var (sources, labels, classes, unlabeled) = LabeledImageInput.Read(input, _options.LabelColumnName, _options.ImageColumnName, _options.ImageFolder);
        var pixels = ImagePixels.Read(_mlContext, sources, _options.ImageSize, cancellationToken);
        if (pixels.Features.Rows == 0)
            throw new ArgumentException($"None of the {sources.Count} training images could be read; first problem: {pixels.Skipped[0].Source}: {pixels.Skipped[0].Reason}");
        var rowLabels = pixels.SourceIndices.Select(i => labels[i]).ToArray();
        var training = new PerceptronTrainer(_options).Train(pixels.Features, rowLabels, classes.Count, progress, cancellationToken);
        var (model, head) = Build(input, training.Model);
        var result = new TrainingResult<TransformerChain<ITransformer>>(model, classes, training.BestEpoch, training.History, training.TrainedParameters)
        {
            Images = pixels,
            UnlabeledRows = unlabeled,
            Head = head,
        };
        return (result, training.Model);
    }

    /// <inheritdoc/>
    public SchemaShape GetOutputSchema(SchemaShape inputSchema) =>
        // The last step is ML.NET's softmax-regression transformer; its outputs do not depend on the layers before it.
        _mlContext.MulticlassClassification.Trainers.LbfgsMaximumEntropy(_options.LabelColumnName, ImagePreparation.PixelsColumn)
            .GetOutputSchema(Preparation(IsPath(inputSchema)).GetOutputSchema(inputSchema));

    private bool IsPath(SchemaShape inputSchema) =>
        !inputSchema.Any(c => c.Name == _options.ImageColumnName && c.ItemType is not TextDataViewType);

    private (TransformerChain<ITransformer> Model, MulticlassPredictionTransformer<MaximumEntropyModelParameters> Head) Build(IDataView input, PerceptronModel perceptron)
    {
        bool isPath = input.Schema[_options.ImageColumnName].Type is TextDataViewType;
        IEstimator<ITransformer> steps = Preparation(isPath);
        string featureColumn = ImagePreparation.PixelsColumn;
        if (perceptron.Hidden.Count > 0)
        {
            var graph = PerceptronGraph.Build(perceptron, ImagePreparation.PixelsColumn, _options.ImageSize);
            steps = steps.Append(_mlContext.Transforms.ApplyOnnxModel([PerceptronGraph.HiddenColumn], [ImagePreparation.PixelsColumn], new MemoryStream(graph)));
            featureColumn = PerceptronGraph.HiddenColumn;
        }
        var trunk = steps.Fit(input); // these stock steps only read the schema when fitted
        var output = perceptron.Output;
        var head = StockSoftmaxLayer.Create(_mlContext, new SoftmaxLayer(output.Weights, output.Bias, output.Inputs),
            trunk.GetOutputSchema(input.Schema), featureColumn, _options.LabelColumnName);
        return (new TransformerChain<ITransformer>(trunk, head), head);
    }

    private IEstimator<ITransformer> Preparation(bool isPath) =>
        ImagePreparation.Estimators(_mlContext, _options.ImageColumnName, isPath, _options.ImageSize, _options.ImageFolder);
}

using MLNetClassify.Data;
using MLNetClassify.Images;
using MLNetClassify.Learning;
using Microsoft.ML.Data;
using Microsoft.ML.Trainers;
using Microsoft.ML;

namespace MLNetClassify.Perceptrons;

/// <summary>What fitting a <see cref="PixelPerceptronEstimator"/> produced and measured.</summary>
/// <param name="Model">Stock ML.NET transformers only: load, resize, pixels, [hidden layers as ONNX], softmax layer.</param>
/// <param name="Perceptron">The trained weights.</param>
/// <param name="Training">The epoch history.</param>
/// <param name="Pixels">Reading the training images (time, skipped images).</param>
/// <param name="Classes">Label names in key order.</param>
public sealed record PixelPerceptronFit(
    TransformerChain<ITransformer> Model, PerceptronModel Perceptron, PerceptronResult Training, FeaturizationResult Pixels, IReadOnlyList<string> Classes);

/// <summary>
/// A perceptron on raw pixels, no backbone: image (path or in-memory) + label key → resize to S×S → 3·S·S values →
/// hidden ReLU layers (none for the single-layer perceptron) → softmax. The baseline that shows what pretrained CNN
/// features add. The fitted model saves and reloads with stock ML.NET like the CNN classifier: its hidden layers
/// ride in an ONNX graph under ApplyOnnxModel and its softmax layer is ML.NET's own.
/// </summary>
public sealed class PixelPerceptronEstimator : IEstimator<TransformerChain<ITransformer>>
{
    private readonly MLContext _mlContext;
    private readonly string _labelColumnName;
    private readonly string _imageColumnName;
    private readonly string? _imageFolder;
    private readonly PerceptronOptions _options;

    internal PixelPerceptronEstimator(MLContext mlContext, string labelColumnName, string imageColumnName, PerceptronOptions? options, string? imageFolder)
    {
        _mlContext = mlContext;
        _labelColumnName = labelColumnName;
        _imageColumnName = imageColumnName;
        _imageFolder = imageFolder;
        _options = options ?? new PerceptronOptions();
        _options.Validate();
    }

    /// <inheritdoc/>
    public TransformerChain<ITransformer> Fit(IDataView input) => FitDetailed(input).Model;

    /// <summary>Fits, and returns what was measured on the way.</summary>
    /// <exception cref="ArgumentException">Columns are missing or of the wrong type, or no image could be read.</exception>
    /// <exception cref="OperationCanceledException">Cancelled through the options' token.</exception>
    public PixelPerceptronFit FitDetailed(IDataView input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var (sources, labels, classes, _) = LabeledImageInput.Read(input, _labelColumnName, _imageColumnName, _imageFolder);
        var pixels = ImagePixels.Read(_mlContext, sources, _options.ImageSize, _options.CancellationToken);
        if (pixels.Features.Rows == 0)
            throw new ArgumentException($"None of the {sources.Count} training images could be read; first problem: {pixels.Skipped[0].Source}: {pixels.Skipped[0].Reason}");
        var rowLabels = pixels.SourceIndices.Select(i => labels[i]).ToArray();
        var training = new PerceptronTrainer(_options).Train(pixels.Features, rowLabels, classes.Count, _options.CancellationToken);
        var model = Build(input, training.Model);
        return new PixelPerceptronFit(model, training.Model, training, pixels, classes);
    }

    /// <inheritdoc/>
    public SchemaShape GetOutputSchema(SchemaShape inputSchema) =>
        // The last step is ML.NET's softmax-regression transformer; its outputs do not depend on the layers before it.
        _mlContext.MulticlassClassification.Trainers.LbfgsMaximumEntropy(_labelColumnName, ImagePreparation.PixelsColumn)
            .GetOutputSchema(Preparation(IsPath(inputSchema)).GetOutputSchema(inputSchema));

    private bool IsPath(SchemaShape inputSchema) =>
        !inputSchema.Any(c => c.Name == _imageColumnName && c.ItemType is not TextDataViewType);

    private TransformerChain<ITransformer> Build(IDataView input, PerceptronModel perceptron)
    {
        bool isPath = input.Schema[_imageColumnName].Type is TextDataViewType;
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
            trunk.GetOutputSchema(input.Schema), featureColumn, _labelColumnName);
        return new TransformerChain<ITransformer>(trunk, head);
    }

    private IEstimator<ITransformer> Preparation(bool isPath) =>
        ImagePreparation.Estimators(_mlContext, _imageColumnName, isPath, _options.ImageSize, _imageFolder);
}

using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms;
using MLNetClassify.Data;
using MLNetClassify.Learning;
using MLNetClassify.Perceptrons;

namespace MLNetClassify.Training;

public static partial class ClassifierWorkflow
{
    /// <summary>Trains a pixel perceptron on <paramref name="split"/>'s training images and evaluates it on its test images.</summary>
    /// <exception cref="ArgumentException">Fewer than two labels, or no readable training image.</exception>
    /// <param name="mlContext">The ML.NET context.</param>
    /// <param name="split">Training and test images.</param>
    /// <param name="options">Perceptron options (the single-layer ones when null); label and image column names are set here.</param>
    /// <param name="epochProgress">Receives one report per epoch; may be null.</param>
    /// <param name="cancellationToken">Stops reading, training and evaluation.</param>
    /// <returns>The whole chain (label text in and out) with its input schema and the test metrics (scored row by row).</returns>
    /// <exception cref="OperationCanceledException">Cancelled.</exception>
    public static TrainingResult<ITransformer> TrainPerceptron(MLContext mlContext, DataSplit split, PerceptronOptions? options = null,
        IProgress<EpochMetrics>? epochProgress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(mlContext);
        ArgumentNullException.ThrowIfNull(split);
        options = (options ?? PerceptronOptions.SingleLayer) with
        {
            LabelColumnName = LabelKeyColumn,
            ImageColumnName = nameof(LabeledImage.ImagePath),
            ImageFolder = null,
        };
        var (train, keyMapper) = KeyedTrainingData(mlContext, split);
        var keyed = keyMapper.Transform(train);
        var fit = new PixelPerceptronEstimator(mlContext, options).FitDetailed(keyed, epochProgress, cancellationToken);
        var toText = mlContext.Transforms.Conversion.MapKeyToValue(PredictedLabelValueColumn, "PredictedLabel").Fit(fit.Model.Transform(keyed));
        var model = new TransformerChain<ITransformer>(keyMapper, fit.Model, toText);
        var test = split.Test.Count > 0 ? Evaluate(mlContext, model, split.Test, cancellationToken) : null;
        return Workflow(fit, model, train.Schema, test);
    }

    /// <summary>The workflow's result: the whole chain (label text in and out) with its schema and test metrics.</summary>
    private static TrainingResult<ITransformer> Workflow(TrainingResult<TransformerChain<ITransformer>> fit, ITransformer model, DataViewSchema inputSchema, EvaluationSummary? test) =>
        new(model, fit.Classes, fit.BestEpoch, fit.Epochs, fit.TrainedParameters)
        {
            Images = fit.Images,
            UnlabeledRows = fit.UnlabeledRows,
            DeviceFallback = fit.DeviceFallback,
            InputSchema = inputSchema,
            Test = test,
            Head = fit.Head,
            Tail = fit.Tail,
            TrunkGraph = fit.TrunkGraph,
            TrainedImages = fit.TrainedImages,
        };

    /// <summary>The training images as a data view, and the text label → key mapping (keys in label order) fitted on them.</summary>
    private static (IDataView Train, ITransformer KeyMapper) KeyedTrainingData(MLContext mlContext, DataSplit split)
    {
        var labels = split.Train.Select(i => i.Label).Distinct().Count();
        if (labels < 2)
            throw new ArgumentException($"Training needs at least two labels; the training images have {labels}.", nameof(split));
        var train = ImageDataset.ToDataView(mlContext, split.Train);
        var keyMapper = mlContext.Transforms.Conversion
            .MapValueToKey(LabelKeyColumn, nameof(LabeledImage.Label), keyOrdinality: ValueToKeyMappingEstimator.KeyOrdinality.ByValue)
            .Fit(train);
        return (train, keyMapper);
    }
}

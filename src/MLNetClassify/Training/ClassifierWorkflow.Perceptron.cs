using MLNetClassify.Data;
using MLNetClassify.Perceptrons;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms;
using Microsoft.ML;

namespace MLNetClassify.Training;

/// <summary>A pixel perceptron trained from a split, with what was measured while training it.</summary>
/// <param name="Model">Label text → key, image → pixels → perceptron, predicted key → label text: save it as is.</param>
/// <param name="InputSchema">Schema to pass to <c>mlContext.Model.Save</c> (columns ImagePath and Label).</param>
/// <param name="Fit">Pixel reading and training details.</param>
/// <param name="Test">Metrics on the split's test images (scored through ML.NET's row-by-row path); null when the split has none.</param>
public sealed record TrainedPerceptron(ITransformer Model, DataViewSchema InputSchema, PixelPerceptronFit Fit, EvaluationSummary? Test);

public static partial class ClassifierWorkflow
{
    /// <summary>Trains a pixel perceptron on <paramref name="split"/>'s training images and evaluates it on its test images.</summary>
    /// <exception cref="ArgumentException">Fewer than two labels, or no readable training image.</exception>
    /// <exception cref="OperationCanceledException">Cancelled through the options' token.</exception>
    public static TrainedPerceptron TrainPerceptron(MLContext mlContext, DataSplit split, PerceptronOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(mlContext);
        ArgumentNullException.ThrowIfNull(split);
        options ??= PerceptronOptions.SingleLayer;
        var (train, keyMapper) = KeyedTrainingData(mlContext, split);
        var keyed = keyMapper.Transform(train);
        var fit = new PixelPerceptronEstimator(mlContext, LabelKeyColumn, nameof(LabeledImage.ImagePath), options, imageFolder: null).FitDetailed(keyed);
        var toText = mlContext.Transforms.Conversion.MapKeyToValue(PredictedLabelValueColumn, "PredictedLabel").Fit(fit.Model.Transform(keyed));
        var model = new TransformerChain<ITransformer>(keyMapper, fit.Model, toText);
        var test = split.Test.Count > 0 ? Evaluate(mlContext, model, split.Test, options.CancellationToken) : null;
        return new TrainedPerceptron(model, train.Schema, fit, test);
    }

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

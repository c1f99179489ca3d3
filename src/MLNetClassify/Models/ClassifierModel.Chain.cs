using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms;
using MLNetClassify.Backbones;
using MLNetClassify.Data;
using MLNetClassify.Featurization;
using MLNetClassify.Learning;

namespace MLNetClassify.Models;

/// <summary>The stock ML.NET chain generated from a classifier model: what its zip holds for <c>mlContext.Model.Load</c>.</summary>
internal sealed partial record ClassifierModel
{
    /// <summary>The key column the text label is mapped to in a saved chain.</summary>
    public const string LabelKeyColumn = "LabelKey";

    /// <summary>The text column with the predicted label in a saved chain.</summary>
    public const string PredictedLabelValueColumn = "PredictedLabelValue";

    /// <summary>
    /// This model as stock ML.NET transformers: label text → key (the classes, in this model's order), image path →
    /// load, resize, pixels → the trunk graph (ApplyOnnxModel from a stream, so the zip embeds it) → the tail as ML.NET's
    /// softmax layer → predicted key → text; and the input schema it takes (ImagePath and Label text).
    /// </summary>
    /// <param name="mlContext">The context the chain is made in.</param>
    /// <param name="device">Where ML.NET's ONNX step runs when the chain scores in this process.</param>
    public (ITransformer Model, DataViewSchema InputSchema) ToChain(MLContext mlContext, ExecutionDevice device = default)
    {
        ArgumentNullException.ThrowIfNull(mlContext);
        // One row per class, in key order: fitted by occurrence, the key mapper gives each class its index here.
        var rows = ImageDataset.ToDataView(mlContext, Classes.Select(c => new LabeledImage("", c)).ToList());
        var keyMapper = mlContext.Transforms.Conversion
            .MapValueToKey(LabelKeyColumn, nameof(LabeledImage.Label), keyOrdinality: ValueToKeyMappingEstimator.KeyOrdinality.ByOccurrence)
            .Fit(rows);
        var keyed = keyMapper.Transform(rows);
        const string features = "Features";
        var featurizer = new ImageFeaturizingEstimator(mlContext, features, nameof(LabeledImage.ImagePath), Trunk.Spec(Path.GetTempPath()), null, device,
            graph: Trunk.Graph).Fit(keyed);
        var head = StockSoftmaxLayer.Create(mlContext, Tail, featurizer.GetOutputSchema(keyed.Schema), features, LabelKeyColumn);
        var scoring = new TransformerChain<ITransformer>(featurizer, head);
        var toText = mlContext.Transforms.Conversion.MapKeyToValue(PredictedLabelValueColumn, "PredictedLabel").Fit(scoring.Transform(keyed));
        return (new TransformerChain<ITransformer>(keyMapper, scoring, toText), rows.Schema);
    }
}

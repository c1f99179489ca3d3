using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Trainers;
using MLNetClassify.Data;
using MLNetClassify.Images;
using MLNetClassify.Learning;

namespace MLNetClassify.Heads;

/// <summary>
/// Trains a softmax head on a feature column and returns ML.NET's stock multiclass prediction transformer
/// (Score in key order, PredictedLabel as a key), which saves and reloads with stock ML.NET.
/// </summary>
public sealed class SoftmaxHeadEstimator : IEstimator<MulticlassPredictionTransformer<MaximumEntropyModelParameters>>
{
    private readonly MLContext _mlContext;
    private readonly SoftmaxHeadOptions _options;

    internal SoftmaxHeadEstimator(MLContext mlContext, SoftmaxHeadOptions options)
    {
        _mlContext = mlContext;
        _options = options ?? throw new ArgumentNullException(nameof(options));
        _options.Validate();
    }

    /// <inheritdoc/>
    /// <exception cref="ArgumentException">The label is not a key column, the features not a known-size float vector, or no row has a label.</exception>
    public MulticlassPredictionTransformer<MaximumEntropyModelParameters> Fit(IDataView input) => FitDetailed(input).Model;

    /// <summary>Fits, and returns the training history with the model.</summary>
    /// <param name="input">Rows with the label key and feature columns.</param>
    /// <param name="progress">Receives one report per epoch; may be null.</param>
    /// <param name="cancellationToken">Stops training; the call then throws <see cref="OperationCanceledException"/>.</param>
    /// <exception cref="ArgumentException">The label is not a key column, the features not a known-size float vector, or no row has a label.</exception>
    public TrainingResult<MulticlassPredictionTransformer<MaximumEntropyModelParameters>> FitDetailed(
        IDataView input, IProgress<EpochMetrics>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(input);
        var (features, labels, classes) = ReadRows(input, _options.LabelColumnName, _options.FeatureColumnName);
        var result = new SoftmaxHeadTrainer(_options).Train(features, labels, classes, progress, cancellationToken);
        var head = StockSoftmaxLayer.Create(_mlContext, result.Model, input.Schema, _options.FeatureColumnName, _options.LabelColumnName);
        var names = LabeledImageInput.LabelNames(input.Schema[_options.LabelColumnName]) ?? Enumerable.Range(1, classes).Select(i => i.ToString()).ToArray();
        return new TrainingResult<MulticlassPredictionTransformer<MaximumEntropyModelParameters>>(
            head, names, result.BestEpoch, result.History, result.Model.Weights.Length + result.Model.Bias.Length) { Head = head };
    }

    /// <inheritdoc/>
    public SchemaShape GetOutputSchema(SchemaShape inputSchema) =>
        // Same outputs as ML.NET's own softmax-regression trainer, whose transformer this estimator emits.
        _mlContext.MulticlassClassification.Trainers.LbfgsMaximumEntropy(_options.LabelColumnName, _options.FeatureColumnName).GetOutputSchema(inputSchema);

    /// <summary>Reads features and 0-based class indices; rows with a missing label (key 0) are left out.</summary>
    internal static (FeatureMatrix Features, int[] Labels, int Classes) ReadRows(IDataView input, string labelColumnName, string featureColumnName)
    {
        var label = input.Schema.GetColumnOrNull(labelColumnName)
            ?? throw new ArgumentOutOfRangeException(nameof(input), $"Input has no label column '{labelColumnName}'.");
        if (label.Type is not KeyDataViewType key)
            throw new ArgumentOutOfRangeException(nameof(input), $"Label column '{labelColumnName}' is {label.Type}, not a key: map it first with mlContext.Transforms.Conversion.MapValueToKey.");
        var feature = input.Schema.GetColumnOrNull(featureColumnName)
            ?? throw new ArgumentOutOfRangeException(nameof(input), $"Input has no feature column '{featureColumnName}'.");
        if (feature.Type is not VectorDataViewType { ItemType: NumberDataViewType n, IsKnownSize: true } vector || n.RawType != typeof(float))
            throw new ArgumentOutOfRangeException(nameof(input), $"Feature column '{featureColumnName}' is {feature.Type}, not a known-size vector of Single.");

        int d = vector.Size;
        var values = new List<float>();
        var labels = new List<int>();
        using var cursor = input.GetRowCursor([label, feature]);
        var getLabel = cursor.GetGetter<uint>(label);
        var getFeatures = cursor.GetGetter<VBuffer<float>>(feature);
        uint k = 0;
        VBuffer<float> buffer = default;
        while (cursor.MoveNext())
        {
            getLabel(ref k);
            if (k == 0) continue;
            getFeatures(ref buffer);
            labels.Add((int)k - 1);
            foreach (float v in buffer.DenseValues()) values.Add(v);
        }
        if (labels.Count == 0)
            throw new ArgumentException($"No row of the input has a label in '{labelColumnName}'.", nameof(input));
        return (new FeatureMatrix(values.ToArray(), labels.Count, d), labels.ToArray(), checked((int)key.Count));
    }
}

using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Trainers;
using MLNetClassify.Data;

namespace MLNetClassify.Learning;

/// <summary>
/// What a fit produced and measured: the model, and the training history behind it. Every trainer of the library
/// returns one from <c>FitDetailed</c>; <see cref="Training.ClassifierWorkflow"/> adds the input schema and the test metrics.
/// </summary>
/// <typeparam name="TModel">The fitted transformer: ML.NET's multiclass prediction transformer for the softmax head, a chain ending in it for image trainers.</typeparam>
/// <param name="Model">The fitted model: stock ML.NET transformers only, ready for Save and PredictionEngine.</param>
/// <param name="Classes">Label names in key order (the order of the Score vector).</param>
/// <param name="BestEpoch">The epoch whose validation loss was lowest (the last epoch without validation).</param>
/// <param name="Epochs">One entry per epoch run, refit epochs included.</param>
/// <param name="TrainedParameters">Weights and biases trained (a sigmoid unit's are half its saved two-row layer's).</param>
public sealed record TrainingResult<TModel>(TModel Model, IReadOnlyList<string> Classes, int BestEpoch, IReadOnlyList<EpochMetrics> Epochs, long TrainedParameters)
    where TModel : class, ITransformer
{
    /// <summary>Reading the training images (features or pixels, time, skipped images); null for trainers fed features.</summary>
    public FeaturizationResult? Images { get; init; }

    /// <summary>Rows left out because their label key was missing.</summary>
    public int UnlabeledRows { get; init; }

    /// <summary>Why the requested device was not used (the CPU was); null when it was.</summary>
    public string? DeviceFallback { get; init; }

    /// <summary>The schema the model takes (what <c>mlContext.Model.Save</c> needs); set by the workflow.</summary>
    public DataViewSchema? InputSchema { get; init; }

    /// <summary>
    /// When the workflow chose a vision transformer's pooling on validation rows: each candidate's lowest validation
    /// loss (the chosen one is the lowest, the mean of the patch tokens on a tie); null when nothing was chosen.
    /// </summary>
    public IReadOnlyDictionary<Backbones.FeaturePooling, double>? PoolingValidationLoss { get; init; }

    /// <summary>The pooling whose head this model carries, when the workflow chose it on validation rows; null otherwise.</summary>
    public Backbones.FeaturePooling? ChosenPooling =>
        PoolingValidationLoss?.OrderBy(p => p.Value).ThenBy(p => p.Key == Backbones.FeaturePooling.Average ? 0 : 1).First().Key;

    /// <summary>Backbone stages trained with the head (0: the head alone).</summary>
    public int FineTunedStages { get; init; }

    /// <summary>Metrics on the test images; set by the workflow when the split has test images.</summary>
    public EvaluationSummary? Test { get; init; }

    /// <summary>The model's softmax layer as ML.NET's transformer (what the saved chain holds).</summary>
    internal MulticlassPredictionTransformer<MaximumEntropyModelParameters>? Head { get; init; }

    /// <summary>The trained softmax layer itself: the classifier model's tail, from which <see cref="Head"/> was made.</summary>
    internal SoftmaxLayer? Tail { get; init; }

    /// <summary>The featurizer graph the tail was trained on (the classifier model's trunk); null for trainers fed features.</summary>
    internal byte[]? TrunkGraph { get; init; }

    /// <summary>The files the head trained on (the featurized training images; in-memory images are not listed).</summary>
    internal Data.TrainedImageList? TrainedImages { get; init; }
}

using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetClassify.Backbones;
using MLNetClassify.Data;
using MLNetClassify.Featurization;
using MLNetClassify.Learning;

namespace MLNetClassify.Training;

public static partial class ClassifierWorkflow
{
    /// <summary>A transformer's two candidate features: the mean of its patch tokens first (kept on a tie), then its class token.</summary>
    private static readonly FeaturePooling[] TokenPoolings = [FeaturePooling.Average, FeaturePooling.ClassToken];

    /// <summary>
    /// Trains the head on each of <see cref="TokenPoolings"/> and keeps the one with the lower validation loss (the head
    /// trainer holds out the same rows both times); only the kept one is evaluated on the test images.
    /// </summary>
    private static TrainingResult<ITransformer> TrainChoosingTokenPooling(MLContext mlContext, DataSplit split, ImageClassifierOptions options,
        IProgress<FeaturizationProgress>? featurizationProgress, IProgress<EpochMetrics>? epochProgress, CancellationToken cancellationToken)
    {
        var (train, keyMapper) = KeyedTrainingData(mlContext, split);
        var keyed = keyMapper.Transform(train);
        var losses = new Dictionary<FeaturePooling, double>();
        (ImageFeaturizer Featurizer, TrainingResult<TransformerChain<ITransformer>> Fit, ImageClassifierOptions Options)? best = null;
        try
        {
            foreach (var pooling in TokenPoolings)
            {
                var candidate = options with { Backbone = options.Backbone with { Pooling = pooling } };
                ImageFeaturizer? featurizer = new ImageFeaturizer(mlContext, candidate.Backbone, candidate.Featurizer);
                TrainingResult<TransformerChain<ITransformer>>? fit = null;
                try
                {
                    fit = new ImageClassifierEstimator(mlContext, candidate).FitDetailed(keyed, featurizer, featurizationProgress, epochProgress, cancellationToken);
                    losses[pooling] = LowestValidationLoss(fit);
                    if (best is null || losses[pooling] < losses[best.Value.Options.Backbone.Pooling])
                    {
                        var beaten = best;
                        best = (featurizer, fit, candidate);
                        featurizer = beaten?.Featurizer; // the beaten candidate's (or nothing) is disposed below
                        fit = beaten?.Fit;
                    }
                }
                finally
                {
                    (fit?.Model as IDisposable)?.Dispose();
                    featurizer?.Dispose();
                }
            }
            var (chosenFeaturizer, chosenFit, chosenOptions) = best!.Value;
            return Finish(mlContext, split, chosenOptions, chosenFeaturizer, keyMapper, train, chosenFit, cancellationToken) with { PoolingValidationLoss = losses };
        }
        finally
        {
            best?.Featurizer.Dispose();
        }
    }

    /// <summary>The lowest validation loss over the training epochs; +∞ when the head held out no rows (then the mean is kept).</summary>
    private static double LowestValidationLoss(TrainingResult<TransformerChain<ITransformer>> fit) =>
        fit.Epochs.Where(e => e.Phase == EpochPhase.Train && e.ValidationLoss is double v && double.IsFinite(v))
            .Select(e => e.ValidationLoss!.Value).DefaultIfEmpty(double.PositiveInfinity).Min();
}

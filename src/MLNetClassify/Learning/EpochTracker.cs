namespace MLNetClassify.Learning;

/// <summary>
/// The end of every training epoch, shared by the head and the perceptron trainers: validate, keep the best
/// weights, record and report the epoch, and say when early stopping has run out of patience.
/// </summary>
/// <param name="parameters">The live parameter vector; copied into <see cref="Best"/> when an epoch is the best.</param>
/// <param name="patience">Epochs without a better validation loss before stopping.</param>
/// <param name="phase">The part of training, recorded in each epoch's metrics.</param>
/// <param name="history">Receives one entry per epoch.</param>
/// <param name="progress">Receives one report per epoch; may be null.</param>
internal sealed class EpochTracker(float[] parameters, int patience, EpochPhase phase, List<EpochMetrics> history, IProgress<EpochMetrics>? progress)
{
    private readonly EarlyStopping _stopping = new(patience);

    /// <summary>The weights of the best epoch so far (the last epoch without validation).</summary>
    public float[] Best { get; } = (float[])parameters.Clone();

    /// <summary>1-based number of the best epoch so far; 0 before the first.</summary>
    public int BestEpoch { get; private set; }

    /// <summary>Closes epoch <paramref name="epoch"/> (0-based); true when training should stop.</summary>
    /// <param name="epoch">The epoch that just ended.</param>
    /// <param name="lossSum">Cross-entropy summed over the epoch's training rows.</param>
    /// <param name="correct">Training rows classified correctly during the epoch.</param>
    /// <param name="rows">Training rows in the epoch.</param>
    /// <param name="learningRate">The epoch's rate.</param>
    /// <param name="validate">Mean loss and accuracy on the held-out rows; null without validation.</param>
    public bool EndEpoch(int epoch, double lossSum, int correct, int rows, float learningRate, Func<(double Loss, double Accuracy)>? validate)
    {
        double? validationLoss = null, validationAccuracy = null;
        bool isBest = true;
        if (validate is not null)
        {
            (validationLoss, validationAccuracy) = validate();
            isBest = _stopping.Report(epoch, validationLoss.Value);
        }
        if (isBest)
        {
            parameters.CopyTo(Best, 0);
            BestEpoch = epoch + 1;
        }
        var metrics = new EpochMetrics(epoch + 1, lossSum / rows, (double)correct / rows, validationLoss, validationAccuracy, learningRate, isBest, phase);
        history.Add(metrics);
        progress?.Report(metrics);
        return validate is not null && _stopping.ShouldStop;
    }
}

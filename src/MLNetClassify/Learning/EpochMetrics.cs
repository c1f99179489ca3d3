namespace MLNetClassify.Learning;

/// <summary>What one epoch of head training achieved.</summary>
/// <param name="Epoch">1-based epoch number.</param>
/// <param name="TrainLoss">Mean cross-entropy over the training rows during the epoch (before the L2 term).</param>
/// <param name="TrainAccuracy">Fraction of training rows classified correctly during the epoch.</param>
/// <param name="ValidationLoss">Mean cross-entropy on the held-out rows after the epoch; null without validation.</param>
/// <param name="ValidationAccuracy">Accuracy on the held-out rows after the epoch; null without validation.</param>
/// <param name="LearningRate">The rate used in the epoch.</param>
/// <param name="IsBest">Whether these weights are the best so far (lowest validation loss).</param>
/// <param name="Phase">The part of training: choosing the epoch count on validation rows, or refitting on all rows.</param>
public sealed record EpochMetrics(
    int Epoch,
    double TrainLoss,
    double TrainAccuracy,
    double? ValidationLoss,
    double? ValidationAccuracy,
    double LearningRate,
    bool IsBest,
    EpochPhase Phase = EpochPhase.Train)
{
    /// <summary>An estimate of the time the rest of this phase takes if it does not stop early; null where none is made (the head's fast epochs).</summary>
    public TimeSpan? TimeLeft { get; init; }

    /// <summary>Whether this epoch refits on all rows (no validation figures).</summary>
    public bool IsRefit => Phase is EpochPhase.Refit or EpochPhase.RefitNewClasses;
}

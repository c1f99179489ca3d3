using MLNetClassify.Learning;

namespace MLNetClassify.Tuning;

/// <summary>
/// How <see cref="StageFineTuner"/> trains a backbone's last stage and the head on it: the tail trainer's settings
/// (<see cref="Training"/>: AdamW or SGD with momentum, the convolutions at a lower rate than the head, decoupled weight
/// decay; its epoch count is the most run), a schedule over the steps, and early stopping on validation images drawn
/// from the training images with the best epoch's weights restored.
/// </summary>
internal sealed record StageFineTuningOptions
{
    /// <summary>Optimizer, rates, weight decay, batch, epochs (the most run), device and threads.</summary>
    /// <remarks>
    /// Rates: the least harmful of those tried on intel-scenes' validation rows drawn from its training rows; none lowered
    /// the validation loss below the head-only start, so early stopping keeps the start there. Training each epoch on a
    /// fresh random crop alone (<see cref="EpochViewOnly"/>) gave a small gain on one split and is not the default.
    /// docs/fine-tuning.md has the rates tried, the figures, the machine and the commands.
    /// </remarks>
    public TailTrainingOptions Training { get; init; } = new()
    {
        Epochs = 4,
        HeadLearningRate = 1e-5f, // the head starts trained
        ConvLearningRate = 3e-6f,
        WeightDecay = 1e-2f,
        MemoryArena = false, // the peak of a stage's forward and backward stays lower without pooled buffers
    };

    /// <summary>The rate schedule over steps: <see cref="LearningRateSchedule.Cosine"/> falls to 1% by the last step of the last epoch.</summary>
    public LearningRateSchedule Schedule { get; init; } = LearningRateSchedule.Cosine;

    /// <summary>Fraction of the training images (stratified) held out to choose the epoch; their augmented views are not trained on.</summary>
    public float ValidationFraction { get; init; } = 0.1f;

    /// <summary>With an epoch view (<see cref="StageFineTuner"/>'s Tune), train each epoch on its rows alone, not also on the cached views.</summary>
    public bool EpochViewOnly { get; init; }

    /// <summary>Epochs without a lower validation loss before stopping.</summary>
    public int EarlyStoppingPatience { get; init; } = 2;

    internal void Validate()
    {
        ArgumentNullException.ThrowIfNull(Training, nameof(Training));
        if (ValidationFraction is <= 0 or >= 1 || float.IsNaN(ValidationFraction))
            throw new ArgumentOutOfRangeException(nameof(ValidationFraction), ValidationFraction, "ValidationFraction must be in (0, 1): fine-tuning always stops early on validation images.");
        if (EarlyStoppingPatience <= 0)
            throw new ArgumentOutOfRangeException(nameof(EarlyStoppingPatience), EarlyStoppingPatience, "EarlyStoppingPatience must be positive.");
        Training.Validate();
    }
}

/// <summary>One fine-tuning epoch's figures (epoch 0: the start, head only, validation figures alone) and the time taken so far.</summary>
/// <param name="Metrics">Epoch, train loss and accuracy, validation loss and accuracy, the rate scale, whether it is the best so far.</param>
/// <param name="Elapsed">Since training began.</param>
/// <param name="Left">An estimate of the time left if no early stop comes (zero after the last epoch).</param>
internal sealed record StageEpochProgress(EpochMetrics Metrics, TimeSpan Elapsed, TimeSpan Left);

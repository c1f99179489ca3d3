using MLNetClassify.Learning;
namespace MLNetClassify.Heads;

/// <summary>Options for training a fully connected softmax head on fixed features.</summary>
/// <remarks>
/// The defaults were chosen by a grid over learning rate, L2, batch size, schedule, patience and validation
/// fraction on the shared flowers-200, intel-scenes, brick-cracks and cifar10-100 splits with ResNet18
/// features (docs/head-tuning.md): Adam at 1e-3 with L2 1e-2 sat in a flat region of good accuracy and
/// log-loss on all four; standardizing the features lowered accuracy on three of them.
/// </remarks>
public sealed record SoftmaxHeadOptions : GradientTrainingOptions
{
    /// <summary>Key column with the labels (map text labels with MapValueToKey first).</summary>
    public string LabelColumnName { get; init; } = "Label";

    /// <summary>Known-size float vector column the layer reads.</summary>
    public string FeatureColumnName { get; init; } = "Features";

    /// <summary>
    /// After early stopping has chosen the number of epochs, train again on all rows (validation rows
    /// included) for that many epochs. Small data sets gain from it; it doubles the (small) training time.
    /// </summary>
    public bool RefitOnAllRows { get; init; } = true;

    /// <summary>
    /// Standardize each feature (mean 0, variance 1) before training; folded into the saved weights. Off by
    /// default: on ResNet18 features it amplified near-constant channels and cost accuracy.
    /// </summary>
    public bool Standardize { get; init; }

    /// <summary>
    /// Label smoothing ε: the head is trained towards (1 − ε) on the true class and ε/K spread over all K classes,
    /// which keeps it from growing over-confident on small data. 0 (none) by default.
    /// </summary>
    public float LabelSmoothing { get; init; }

    /// <summary>
    /// Warm start with new classes: the learning-rate factor of the classes the starting head knew once the new ones have
    /// been fitted alone (<see cref="SoftmaxHeadTrainer"/>). Chosen on validation rows drawn from training rows (docs/retraining.md).
    /// </summary>
    internal float KnownClassRate { get; init; } = 0.1f;

    /// <summary>
    /// Warm start without new classes: the factor the starting head's weights and biases are multiplied by. Chosen on
    /// validation rows drawn from training rows (docs/retraining.md).
    /// </summary>
    internal float WarmStartShrink { get; init; } = 0.5f;

    internal override void Validate()
    {
        base.Validate();
        if (WarmStartShrink is <= 0 or > 1 || float.IsNaN(WarmStartShrink))
            throw new ArgumentOutOfRangeException(nameof(WarmStartShrink), WarmStartShrink, "WarmStartShrink must be in (0, 1].");
        if (KnownClassRate is < 0 or > 1 || float.IsNaN(KnownClassRate))
            throw new ArgumentOutOfRangeException(nameof(KnownClassRate), KnownClassRate, "KnownClassRate must be in [0, 1].");
        if (LabelSmoothing is < 0 or >= 1 || float.IsNaN(LabelSmoothing))
            throw new ArgumentOutOfRangeException(nameof(LabelSmoothing), LabelSmoothing, "LabelSmoothing must be in [0, 1).");
    }
}

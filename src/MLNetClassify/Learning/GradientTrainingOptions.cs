using MLNetClassify.Data;
namespace MLNetClassify.Learning;

/// <summary>
/// What every mini-batch trainer in MLNetClassify shares: optimizer, schedule, L2, hold-out and early stopping.
/// The softmax head (<c>SoftmaxHeadOptions</c>) and the pixel perceptrons (<c>PerceptronOptions</c>) add their own.
/// </summary>
public abstract record GradientTrainingOptions
{
    /// <summary>Most passes over the training rows.</summary>
    public int Epochs { get; init; } = 100;

    /// <summary>Rows per gradient step.</summary>
    public int BatchSize { get; init; } = 32;

    /// <summary>Initial learning rate.</summary>
    public float LearningRate { get; init; } = 1e-3f;

    /// <summary>The optimizer.</summary>
    public HeadOptimizer Optimizer { get; init; } = HeadOptimizer.Adam;

    /// <summary>Momentum for <see cref="HeadOptimizer.Momentum"/>; β1 for Adam.</summary>
    public float Momentum { get; init; } = 0.9f;

    /// <summary>L2 penalty on the weights (not the biases), added to the mean loss as λ/2·‖W‖².</summary>
    public float L2 { get; init; } = 1e-2f;

    /// <summary>The learning-rate schedule.</summary>
    public LearningRateSchedule Schedule { get; init; } = LearningRateSchedule.Cosine;

    /// <summary>Fraction of the training rows held out (stratified) to choose the best epoch; 0 turns early stopping off.</summary>
    public float ValidationFraction { get; init; } = 0.1f;

    /// <summary>Epochs without a better validation loss before training stops.</summary>
    public int EarlyStoppingPatience { get; init; } = 10;

    /// <summary>Seed for the validation split, the initial weights and the batch order.</summary>
    public int Seed { get; init; } = 1;

    /// <summary>Throws for a value out of range, naming the option.</summary>
    internal virtual void Validate()
    {
        if (Epochs <= 0) throw new ArgumentOutOfRangeException(nameof(Epochs), Epochs, "Epochs must be positive.");
        if (BatchSize <= 0) throw new ArgumentOutOfRangeException(nameof(BatchSize), BatchSize, "BatchSize must be positive.");
        if (!(LearningRate > 0)) throw new ArgumentOutOfRangeException(nameof(LearningRate), LearningRate, "LearningRate must be positive.");
        if (Momentum is < 0 or >= 1) throw new ArgumentOutOfRangeException(nameof(Momentum), Momentum, "Momentum must be in [0, 1).");
        if (!(L2 >= 0)) throw new ArgumentOutOfRangeException(nameof(L2), L2, "L2 must be zero or positive.");
        if (ValidationFraction is < 0 or >= 1) throw new ArgumentOutOfRangeException(nameof(ValidationFraction), ValidationFraction, "ValidationFraction must be in [0, 1).");
        if (EarlyStoppingPatience <= 0) throw new ArgumentOutOfRangeException(nameof(EarlyStoppingPatience), EarlyStoppingPatience, "EarlyStoppingPatience must be positive.");
    }

    /// <summary>Checks training rows against labels: sizes agree, labels are class indices, values are finite.</summary>
    /// <exception cref="ArgumentException">They do not.</exception>
    internal static void CheckRows(FeatureMatrix rows, IReadOnlyList<int> labels, int classes, string what)
    {
        ArgumentNullException.ThrowIfNull(rows);
        ArgumentNullException.ThrowIfNull(labels);
        if (classes < 2)
            throw new ArgumentOutOfRangeException(nameof(classes), classes, "A classifier needs at least two classes.");
        if (labels.Count != rows.Rows)
            throw new ArgumentException($"{labels.Count} labels for {rows.Rows} {what} rows.", nameof(labels));
        if (rows.Rows == 0)
            throw new ArgumentException("No training rows.", nameof(rows));
        for (int i = 0; i < labels.Count; i++)
            if ((uint)labels[i] >= (uint)classes)
                throw new ArgumentException($"Label {labels[i]} of row {i} is outside [0, {classes}).", nameof(labels));
        if (!System.Numerics.Tensors.TensorPrimitives.IsFiniteAll<float>(rows.Values))
            throw new ArgumentException($"The {what} rows contain NaN or infinity.", nameof(rows));
    }
}

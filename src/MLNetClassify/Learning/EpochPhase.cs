namespace MLNetClassify.Learning;

/// <summary>Which part of training an epoch belongs to.</summary>
public enum EpochPhase
{
    /// <summary>Training on the training part, validated on the held-out rows: early stopping chooses the epoch count here.</summary>
    Train,

    /// <summary>A warm start's first part: the new classes trained alone against the known ones held fixed (validated).</summary>
    NewClasses,

    /// <summary>Training again on all rows for the epochs <see cref="Train"/> chose; no validation.</summary>
    Refit,

    /// <summary>The refit of <see cref="NewClasses"/> on all rows; no validation.</summary>
    RefitNewClasses,

    /// <summary>A backbone stage and the head trained together, validated on held-out training images (epoch 0: the head-only start).</summary>
    FineTune,
}

namespace MLNetClassify.Learning;

/// <summary>How the learning rate changes over the epochs.</summary>
public enum LearningRateSchedule
{
    /// <summary>The same rate every epoch.</summary>
    Constant,

    /// <summary>Half a cosine from the initial rate down to 1% of it at the last epoch.</summary>
    Cosine,

    /// <summary>Divide the rate by 10 at half and at three quarters of the epochs.</summary>
    Step,
}

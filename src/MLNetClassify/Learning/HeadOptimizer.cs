namespace MLNetClassify.Learning;

/// <summary>Which first-order optimizer updates the head's weights.</summary>
public enum HeadOptimizer
{
    /// <summary>Adam (Kingma &amp; Ba) with bias correction.</summary>
    Adam,

    /// <summary>SGD with classical (heavy-ball) momentum.</summary>
    Momentum,
}

namespace MLNetClassify.Learning;

/// <summary>
/// A trained fully connected softmax layer on raw (unstandardized) features: p = softmax(W·x + b).
/// </summary>
/// <remarks>Standardization used in training is folded into <see cref="Weights"/> and <see cref="Bias"/>.</remarks>
internal sealed class SoftmaxLayer
{
    /// <summary>Creates a head from row-major weights (classes × features) and biases.</summary>
    /// <exception cref="ArgumentException">The sizes do not agree.</exception>
    public SoftmaxLayer(float[] weights, float[] bias, int features)
    {
        ArgumentNullException.ThrowIfNull(weights);
        ArgumentNullException.ThrowIfNull(bias);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(features);
        if (bias.Length == 0 || weights.Length != bias.Length * features)
            throw new ArgumentException($"Weights must hold classes×features = {bias.Length}×{features} values, got {weights.Length}.", nameof(weights));
        Weights = weights;
        Bias = bias;
        Features = features;
    }

    /// <summary>Row-major weights, one row of <see cref="Features"/> values per class.</summary>
    public float[] Weights { get; }

    /// <summary>One bias per class.</summary>
    public float[] Bias { get; }

    /// <summary>Input length.</summary>
    public int Features { get; }

    /// <summary>Number of classes.</summary>
    public int Classes => Bias.Length;

    /// <summary>Writes the logits W·x + b for <paramref name="features"/> into <paramref name="logits"/>.</summary>
    public void Logits(ReadOnlySpan<float> features, Span<float> logits)
    {
        if (features.Length != Features)
            throw new ArgumentException($"Expected {Features} features, got {features.Length}.", nameof(features));
        for (int k = 0; k < Classes; k++)
            logits[k] = System.Numerics.Tensors.TensorPrimitives.Dot(Weights.AsSpan(k * Features, Features), features) + Bias[k];
    }

    /// <summary>Class probabilities for one row of features.</summary>
    public float[] Predict(ReadOnlySpan<float> features)
    {
        var p = new float[Classes];
        Logits(features, p);
        Numerics.Kernels.Softmax(p, p);
        return p;
    }
}

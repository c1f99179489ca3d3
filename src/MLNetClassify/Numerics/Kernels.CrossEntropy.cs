namespace MLNetClassify.Numerics;

internal static partial class Kernels
{
    /// <summary>
    /// Cross-entropy of softmax(<paramref name="logits"/>) against class <paramref name="label"/>, and its
    /// gradient with respect to the logits (softmax − one-hot) written to <paramref name="gradient"/>.
    /// </summary>
    /// <returns>The loss, −log p[label], finite for any finite logits.</returns>
    /// <exception cref="ArgumentException">The logits are empty or the gradient span is too short.</exception>
    /// <exception cref="ArgumentOutOfRangeException">The label is not a class index.</exception>
    public static float CrossEntropyWithGradient(ReadOnlySpan<float> logits, int label, Span<float> gradient)
    {
        if (logits.IsEmpty)
            throw new ArgumentException("Logits must not be empty.", nameof(logits));
        if ((uint)label >= (uint)logits.Length)
            throw new ArgumentOutOfRangeException(nameof(label), label, $"Label must be in [0, {logits.Length}).");
        ThrowIfDestinationTooShort(logits.Length, gradient.Length, nameof(gradient));

        // log p[label] from the log-softmax keeps the loss finite when p[label] underflows to 0.
        LogSoftmax(logits, gradient);
        float loss = -gradient[label];
        Softmax(logits, gradient);
        gradient[label] -= 1f;
        return loss;
    }
}

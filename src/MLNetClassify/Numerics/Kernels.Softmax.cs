using System.Numerics.Tensors;

namespace MLNetClassify.Numerics;

internal static partial class Kernels
{
    /// <summary>Writes softmax(<paramref name="logits"/>) to <paramref name="destination"/>.</summary>
    /// <remarks>
    /// Subtracts the maximum logit before exponentiating, so logits of ±1e4 give finite probabilities
    /// (TensorPrimitives.SoftMax does not, and overflows to NaN there).
    /// </remarks>
    /// <exception cref="ArgumentException">The logits are empty or the destination is shorter than them.</exception>
    public static void Softmax(ReadOnlySpan<float> logits, Span<float> destination)
    {
        if (logits.IsEmpty)
            throw new ArgumentException("Logits must not be empty.", nameof(logits));
        ThrowIfDestinationTooShort(logits.Length, destination.Length, nameof(destination));

        var dst = destination[..logits.Length];
        float max = TensorPrimitives.Max(logits);
        TensorPrimitives.Subtract(logits, max, dst);
        TensorPrimitives.Exp(dst, dst);
        float sum = TensorPrimitives.Sum<float>(dst);
        TensorPrimitives.Divide(dst, sum, dst);
    }
}

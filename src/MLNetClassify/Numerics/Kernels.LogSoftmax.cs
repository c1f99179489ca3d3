using System.Numerics.Tensors;

namespace MLNetClassify.Numerics;

internal static partial class Kernels
{
    /// <summary>Writes log(softmax(<paramref name="logits"/>)) to <paramref name="destination"/>.</summary>
    /// <remarks>Computed as x - max - log(Σ exp(x - max)), finite for any finite logits.</remarks>
    /// <exception cref="ArgumentException">The logits are empty or the destination is shorter than them.</exception>
    public static void LogSoftmax(ReadOnlySpan<float> logits, Span<float> destination)
    {
        if (logits.IsEmpty)
            throw new ArgumentException("Logits must not be empty.", nameof(logits));
        ThrowIfDestinationTooShort(logits.Length, destination.Length, nameof(destination));

        var dst = destination[..logits.Length];
        float max = TensorPrimitives.Max(logits);
        TensorPrimitives.Subtract(logits, max, dst);
        double sum = 0;
        foreach (float v in dst)
            sum += Math.Exp(v);
        TensorPrimitives.Subtract(dst, (float)Math.Log(sum), dst);
    }
}

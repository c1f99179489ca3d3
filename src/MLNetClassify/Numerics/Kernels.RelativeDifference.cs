namespace MLNetClassify.Numerics;

internal static partial class Kernels
{
    /// <summary>‖a − b‖₂ / ‖b‖₂ in double precision: how far <paramref name="a"/> is from the reference <paramref name="b"/>.</summary>
    /// <exception cref="ArgumentException">The spans differ in length.</exception>
    public static double RelativeL2Difference(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        if (a.Length != b.Length)
            throw new ArgumentException($"Lengths differ: {a.Length} and {b.Length}.", nameof(b));
        double num = 0, den = 0;
        for (int i = 0; i < a.Length; i++)
        {
            double d = a[i] - (double)b[i];
            num += d * d;
            den += (double)b[i] * b[i];
        }
        return Math.Sqrt(num / Math.Max(den, 1e-30));
    }
}

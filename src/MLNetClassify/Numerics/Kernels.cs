namespace MLNetClassify.Numerics;

/// <summary>
/// Small span kernels for the softmax head: spans in, destination last, guard clauses first.
/// One operation per file of this partial class; each is tested against a naive double-precision loop.
/// </summary>
internal static partial class Kernels
{
    private static void ThrowIfDestinationTooShort(int needed, int actual, string name)
    {
        if (actual < needed)
            throw new ArgumentException($"Destination is too short: needs {needed} elements, has {actual}.", name);
    }
}

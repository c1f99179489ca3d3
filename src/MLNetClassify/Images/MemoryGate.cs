namespace MLNetClassify.Images;

/// <summary>
/// Bounds the bytes that threads hold at once: <see cref="Enter"/> waits while the others hold so much that the
/// request would pass the budget, except that a request alone always passes (so one image larger than the budget is
/// still decoded, by itself). A holder must not enter again before it exits: one reservation per thread at a time.
/// </summary>
internal sealed class MemoryGate(long budget)
{
    private readonly object _lock = new();
    private long _held;

    /// <summary>The gate of all decoders' pixel buffers: 256 MiB, a few full-size 12-megapixel PNGs, whatever the core count.</summary>
    public static MemoryGate Decoding { get; } = new(256L << 20);

    /// <summary>Bytes held now.</summary>
    public long Held
    {
        get { lock (_lock) return _held; }
    }

    public void Enter(long bytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(bytes);
        lock (_lock)
        {
            while (_held > 0 && _held + bytes > budget)
                Monitor.Wait(_lock);
            _held += bytes;
        }
    }

    public void Exit(long bytes)
    {
        lock (_lock)
        {
            _held -= bytes;
            Monitor.PulseAll(_lock);
        }
    }
}

using Microsoft.ML.Data;

namespace MLNetClassify.Images;

/// <summary>
/// Upright BGRA pixels in a buffer rented from <see cref="ImageBuffers.Pool"/> (returned on dispose), or why there are
/// none; the stored size and format as <see cref="DecodedImage"/> reports them.
/// </summary>
internal sealed class RawImage : IDisposable
{
    private byte[]? _buffer;
    private long _held;

    // held: bytes this image holds of MemoryGate.Decoding, released on dispose.
    public RawImage(byte[] buffer, int width, int height, int storedWidth, int storedHeight, string format, long held = 0)
    {
        _buffer = buffer;
        _held = held;
        Width = width;
        Height = height;
        StoredWidth = storedWidth;
        StoredHeight = storedHeight;
        Format = format;
    }

    private RawImage(string problem, int storedWidth, int storedHeight, string? format)
    {
        Problem = problem;
        StoredWidth = storedWidth;
        StoredHeight = storedHeight;
        Format = format;
    }

    public static RawImage Failed(string problem, int storedWidth = 0, int storedHeight = 0, string? format = null) =>
        new(problem, storedWidth, storedHeight, format);

    /// <summary>Why the file cannot be used; null on success.</summary>
    public string? Problem { get; }

    public int Width { get; }

    public int Height { get; }

    public int StoredWidth { get; }

    public int StoredHeight { get; }

    public string? Format { get; }

    /// <summary>The rented array (longer than the pixels); null on failure.</summary>
    public byte[]? Buffer => _buffer;

    /// <summary>The BGRA pixels, row after row.</summary>
    public ReadOnlySpan<byte> Pixels => _buffer is null ? default : _buffer.AsSpan(0, Width * Height * 4);

    /// <summary>The pixels copied into an <see cref="MLImage"/> (the caller disposes it), or the problem.</summary>
    public DecodedImage ToImage() => Problem is { } problem
        ? new DecodedImage(null, problem, StoredWidth, StoredHeight, Format)
        : new DecodedImage(MLImage.CreateFromPixels(Width, Height, MLPixelFormat.Bgra32, Pixels), null, StoredWidth, StoredHeight, Format);

    public void Dispose()
    {
        if (_buffer is not null) ImageBuffers.Pool.Return(_buffer);
        _buffer = null;
        if (_held > 0) MemoryGate.Decoding.Exit(_held);
        _held = 0;
    }
}

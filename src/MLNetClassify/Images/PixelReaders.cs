using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLNetClassify.Images;

/// <summary>
/// Turns images into pixel planes: files through <see cref="ImageDecoder"/> (header first, size limit, DCT-scaled
/// JPEG, EXIF orientation), then the stock resize and pixel steps of <see cref="ImagePreparation"/> as
/// <see cref="StockPlanes"/> does them (bit-equal, without the PredictionEngine), one <see cref="StockPlanes"/> per
/// thread; says why when an image cannot be read.
/// </summary>
internal sealed class PixelReaders : IDisposable
{
    private readonly ThreadLocal<StockPlanes> _planes;
    private readonly int _size;
    private readonly ImageDecoding _decoding;

    public PixelReaders(int size, ImageDecoding? decoding = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(size);
        _size = size;
        _decoding = decoding ?? ImageDecoding.Default;
        _planes = new(() => new StockPlanes(size), trackAllValues: true);
    }

    /// <summary>As <see cref="PixelReaders(int, ImageDecoding?)"/>: the steps no longer run through ML.NET, so the context is unused.</summary>
    public PixelReaders(MLContext mlContext, int size, ImageDecoding? decoding = null)
        : this(size, decoding)
    {
        ArgumentNullException.ThrowIfNull(mlContext);
    }

    /// <summary>Writes the image's pixel planes to <paramref name="destination"/>; returns null, or why it failed.</summary>
    public string? TryRead(ImageSource source, Span<float> destination)
    {
        if (destination.Length != 3 * _size * _size)
            return $"decoded to {3 * _size * _size} values, expected {destination.Length}";
        try
        {
            if (source.Path is { } path)
            {
                using var raw = ImageDecoder.DecodeFile(path, _size, _decoding);
                if (raw.Problem is { } problem)
                    return problem;
                _planes.Value!.Write(raw.Buffer!, raw.Width, raw.Height, rgba: false, destination);
            }
            else
            {
                Write(source.Image!, destination);
            }
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            return $"not a readable image ({FirstLine(e.Message)})";
        }
        return null;
    }

    /// <summary>An in-memory image: its pixels copied to a pooled buffer (an <see cref="MLImage"/> cannot be pinned), then the same steps.</summary>
    private void Write(MLImage image, Span<float> destination)
    {
        if (image.PixelFormat is not (MLPixelFormat.Bgra32 or MLPixelFormat.Rgba32))
            throw new ArgumentException($"pixel format {image.PixelFormat} is not BGRA or RGBA");
        var pixels = image.Pixels;
        var copy = ImageBuffers.Pool.Rent(pixels.Length);
        try
        {
            pixels.CopyTo(copy);
            _planes.Value!.Write(copy, image.Width, image.Height, image.PixelFormat == MLPixelFormat.Rgba32, destination);
        }
        finally
        {
            ImageBuffers.Pool.Return(copy);
        }
    }

    private static string FirstLine(string message)
    {
        int end = message.IndexOfAny(['\r', '\n']);
        return end < 0 ? message : message[..end];
    }

    public void Dispose()
    {
        foreach (var planes in _planes.Values) planes.Dispose();
        _planes.Dispose();
    }
}

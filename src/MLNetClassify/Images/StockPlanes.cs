using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using SkiaSharp;

namespace MLNetClassify.Images;

/// <summary>
/// ML.NET's stock image steps, ResizeImages (iso-crop, centred) then ExtractPixels (RGB planes, 0–255), done on a
/// decoder's pixels without the <c>MLImage</c> copies and the PredictionEngine between them: the same Skia draw
/// (<c>MLImage.ResizeWithCrop</c> of Microsoft.ML.ImageAnalytics 5.0.1: the same rectangles, high filter quality, onto an
/// opaque S×S bitmap) into a bitmap kept for the next image, and the planes written straight into the caller's span.
/// The planes are bit-equal to the stock transforms' (test <c>StockPlanes_EqualMlNetsResizeAndExtract_BitForBit</c>).
/// One instance per thread: not thread-safe.
/// </summary>
internal sealed class StockPlanes : IDisposable
{
    private readonly int _size;
    private readonly SKBitmap _resized;
    private readonly SKCanvas _canvas;
    private readonly SKPaint _paint = new() { FilterQuality = SKFilterQuality.High };

    public StockPlanes(int size)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(size);
        _size = size;
        _resized = new SKBitmap(size, size, isOpaque: true);
        _canvas = new SKCanvas(_resized);
    }

    /// <summary>Side S of the planes.</summary>
    public int Size => _size;

    /// <summary>
    /// Writes the 3·S·S planes of the <paramref name="width"/>×<paramref name="height"/> image whose pixels are in
    /// <paramref name="buffer"/> (BGRA, or RGBA when <paramref name="rgba"/>; from index 0, rows packed) to <paramref name="destination"/>.
    /// </summary>
    public void Write(byte[] buffer, int width, int height, bool rgba, Span<float> destination)
    {
        if (destination.Length != 3 * _size * _size)
            throw new ArgumentException($"Expected 3×{_size}×{_size} values, got {destination.Length}.", nameof(destination));
        // ResizeImages hands an image of the target size on untouched.
        if (width == _size && height == _size)
        {
            Extract(buffer.AsSpan(0, width * height * 4), rgba, destination);
            return;
        }
        Resize(buffer, width, height, rgba);
        Extract(_resized.GetPixelSpan(), _resized.ColorType == SKColorType.Rgba8888, destination); // the platform's order (BGRA here)
    }

    /// <summary>Draws the image onto the kept S×S bitmap as <c>MLImage.ResizeWithCrop(S, S, CropAnchorCentral)</c> does.</summary>
    internal void Resize(byte[] buffer, int width, int height, bool rgba)
    {
        // The same float arithmetic as ML.NET's, so that the rectangles (and the pixels) are the same.
        float widthAspect = (float)_size / width;
        float heightAspect = (float)_size / height;
        int destX = 0, destY = 0;
        float aspect;
        if (heightAspect < widthAspect)
        {
            aspect = widthAspect;
            destY = (int)((_size - (height * aspect)) / 2);
        }
        else
        {
            aspect = heightAspect;
            destX = (int)((_size - (width * aspect)) / 2);
        }
        int destWidth = (int)(width * aspect);
        int destHeight = (int)(height * aspect);

        // ML.NET draws onto a freshly allocated (zeroed) bitmap; a rectangle one pixel short leaves zeros there too.
        var kept = _resized.GetPixelSpan();
        MemoryMarshal.CreateSpan(ref MemoryMarshal.GetReference(kept), kept.Length).Clear();
        var info = new SKImageInfo(width, height, rgba ? SKColorType.Rgba8888 : SKColorType.Bgra8888, SKAlphaType.Premul);
        var handle = GCHandle.Alloc(buffer, GCHandleType.Pinned);
        try
        {
            using var source = new SKBitmap();
            if (!source.InstallPixels(info, handle.AddrOfPinnedObject(), width * 4))
                throw new InvalidOperationException($"Skia refused a {width}×{height} image.");
            // Immutable: Skia draws from these pixels in place instead of copying a mutable bitmap first.
            source.SetImmutable();
            _canvas.DrawBitmap(source, new SKRect(0, 0, width, height), new SKRect(destX, destY, destX + destWidth, destY + destHeight), _paint);
            _canvas.Flush();
        }
        finally
        {
            handle.Free();
        }
    }

    /// <summary>The kept S×S bitmap's pixels (the last <see cref="Resize"/>'s result; BGRA here).</summary>
    internal ReadOnlySpan<byte> Resized => _resized.GetPixelSpan();

    /// <summary>
    /// ExtractPixels with its defaults: planes R, G, B of 4-byte pixels as floats 0–255, alpha dropped, no offset or scale.
    /// </summary>
    internal static void Extract(ReadOnlySpan<byte> pixels, bool rgba, Span<float> destination)
    {
        int count = pixels.Length / 4;
        var red = destination[..count];
        var green = destination.Slice(count, count);
        var blue = destination.Slice(2 * count, count);
        var words = MemoryMarshal.Cast<byte, uint>(pixels); // little-endian: byte 0 is the low byte
        int redShift = rgba ? 0 : 16, blueShift = rgba ? 16 : 0;
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var mask = Vector256.Create(0xFFu);
            for (; i <= count - Vector256<uint>.Count; i += Vector256<uint>.Count)
            {
                var p = Vector256.Create(words.Slice(i, Vector256<uint>.Count));
                Vector256.ConvertToSingle((Vector256.ShiftRightLogical(p, redShift) & mask).AsInt32()).CopyTo(red[i..]);
                Vector256.ConvertToSingle((Vector256.ShiftRightLogical(p, 8) & mask).AsInt32()).CopyTo(green[i..]);
                Vector256.ConvertToSingle((Vector256.ShiftRightLogical(p, blueShift) & mask).AsInt32()).CopyTo(blue[i..]);
            }
        }
        for (; i < count; i++)
        {
            uint p = words[i];
            red[i] = (p >> redShift) & 0xFF;
            green[i] = (p >> 8) & 0xFF;
            blue[i] = (p >> blueShift) & 0xFF;
        }
    }

    public void Dispose()
    {
        _canvas.Dispose();
        _paint.Dispose();
        _resized.Dispose();
    }
}

using System.Runtime.InteropServices;
using Microsoft.ML.Data;
using SkiaSharp;

namespace MLNetClassify.Images;

/// <summary>How uploads are decoded: the pixel limit, and whether cut-short files are used.</summary>
/// <param name="MaxPixels">Images with more pixels than this are refused from their header, before any pixel is decoded.</param>
/// <param name="AcceptIncomplete">Use what decodes of a truncated file (the rest is grey) instead of refusing it.</param>
internal sealed record ImageDecoding(long MaxPixels = ImageDecoding.DefaultMaxPixels, bool AcceptIncomplete = false)
{
    /// <summary>100 megapixels: above any phone camera's 12–50 MP, far below a decompression bomb's.</summary>
    public const long DefaultMaxPixels = 100_000_000;

    public static ImageDecoding Default { get; } = new();
}

/// <summary>A decoded image, or why there is none.</summary>
/// <param name="Image">The upright image, at least the requested side on its shorter edge when the file allowed it; null on failure.</param>
/// <param name="Problem">Why the file cannot be used; null on success.</param>
/// <param name="Width">Width of the encoded image as stored (before scaling and orientation); 0 when unknown.</param>
/// <param name="Height">Height as stored; 0 when unknown.</param>
/// <param name="Format">The encoded format, e.g. "Jpeg"; null when not recognised.</param>
internal sealed record DecodedImage(MLImage? Image, string? Problem, int Width, int Height, string? Format);

/// <summary>
/// The one image decoder for every path this project controls. It reads the header first (format, size, EXIF
/// orientation), refuses images over the pixel limit before decoding a pixel, decodes a large JPEG at the smallest DCT
/// scale (1/8 … 1/2, libjpeg-turbo through SkiaSharp) whose shorter side still covers the network's input, turns the image
/// upright as its EXIF orientation says, and reports a truncated file instead of scoring half an image. PNG, JPEG,
/// GIF (first frame), BMP and WebP are decoded.
/// </summary>
/// <remarks>
/// For an upright image that needs no scaling, the pixels equal what ML.NET's <see cref="MLImage.CreateFromFile"/>
/// (SkiaSharp's <c>SKBitmap.Decode</c>) gives: the same codec, BGRA, premultiplied alpha, no colour-space conversion.
/// </remarks>
internal static class ImageDecoder
{
    /// <summary>File extensions of the formats decoded.</summary>
    public static IReadOnlySet<string> Extensions { get; } =
        new HashSet<string>([".jpg", ".jpeg", ".png", ".gif", ".bmp", ".webp"], StringComparer.OrdinalIgnoreCase);

    /// <summary>Decodes the file at <paramref name="path"/> for a network that takes <paramref name="minSide"/>² inputs.</summary>
    public static DecodedImage Decode(string path, int minSide, ImageDecoding? options = null)
    {
        using var raw = DecodeFile(path, minSide, options);
        return raw.ToImage();
    }

    /// <summary>Decodes encoded image bytes.</summary>
    public static DecodedImage Decode(ReadOnlySpan<byte> bytes, int minSide, ImageDecoding? options = null)
    {
        if (bytes.IsEmpty)
            return Failed("empty file (0 bytes)");
        var copy = ImageBuffers.Pool.Rent(bytes.Length); // pinned below: a span cannot be
        try
        {
            bytes.CopyTo(copy);
            using var raw = DecodeBytes(copy, bytes.Length, minSide, options);
            return raw.ToImage();
        }
        finally
        {
            ImageBuffers.Pool.Return(copy);
        }
    }

    /// <summary>Decodes an encoded image from <paramref name="stream"/> (read from its current position).</summary>
    public static DecodedImage Decode(Stream stream, int minSide, ImageDecoding? options = null)
    {
        ArgumentNullException.ThrowIfNull(stream);
        using var codec = SKCodec.Create(stream, out var created);
        using var raw = Decode(codec, created, minSide, options);
        return raw.ToImage();
    }

    /// <summary>
    /// Decodes the file at <paramref name="path"/> into pooled pixels: the file read whole with one call, the codec
    /// reading it from memory (no stream callbacks into .NET).
    /// </summary>
    internal static RawImage DecodeFile(string path, int minSide, ImageDecoding? options = null)
    {
        var bytes = ImageBuffers.ReadFile(path, out int length, out var problem);
        if (bytes is null)
            return RawImage.Failed(problem!);
        try
        {
            return DecodeBytes(bytes, length, minSide, options);
        }
        finally
        {
            ImageBuffers.Pool.Return(bytes);
        }
    }

    /// <summary>Decodes the first <paramref name="length"/> bytes of <paramref name="bytes"/> into pooled pixels.</summary>
    internal static RawImage DecodeBytes(byte[] bytes, int length, int minSide, ImageDecoding? options = null) =>
        ImageBuffers.Pinned(bytes, address =>
        {
            // The codec reads the pinned array in place; both are disposed before it is unpinned.
            using var data = SKData.Create(address, length);
            using var codec = SKCodec.Create(new SKMemoryStream(data), out var created);
            return Decode(codec, created, minSide, options);
        });

    /// <summary>
    /// The decoder's steps after the codec is made: header checks, the DCT-scaled decode, orientation. The pixels (BGRA)
    /// are in a buffer rented from <see cref="ImageBuffers.Pool"/>, returned when the result is disposed.
    /// </summary>
    internal static RawImage Decode(SKCodec? codec, SKCodecResult created, int minSide, ImageDecoding? options)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(minSide);
        options ??= ImageDecoding.Default;
        if (codec is null)
            return RawImage.Failed(created == SKCodecResult.Unimplemented || created == SKCodecResult.InvalidInput || created == SKCodecResult.CouldNotRewind
                ? "not an image in a supported format (PNG, JPEG, GIF, BMP, WebP)"
                : $"not a readable image ({created})");

        var info = codec.Info;
        string format = codec.EncodedFormat.ToString();
        long pixels = (long)info.Width * info.Height;
        if (info.Width <= 0 || info.Height <= 0)
            return RawImage.Failed("image has no pixels", info.Width, info.Height, format);
        if (pixels > options.MaxPixels)
            return RawImage.Failed(
                $"{info.Width}×{info.Height} pixels ({pixels / 1e6:0.#} megapixels) is over the limit of {options.MaxPixels / 1e6:0.#} megapixels; not decoded",
                info.Width, info.Height, format);

        var size = ScaledSize(codec, minSide);
        var target = new SKImageInfo(size.Width, size.Height, SKColorType.Bgra8888, info.AlphaType == SKAlphaType.Opaque ? SKAlphaType.Opaque : SKAlphaType.Premul);
        int bytes = target.BytesSize;
        bool upright = codec.EncodedOrigin == SKEncodedOrigin.TopLeft;
        // Held until the pixels are used (RawImage.Dispose): a turned image needs its buffer twice for a while.
        long held = upright ? bytes : 2L * bytes;
        MemoryGate.Decoding.Enter(held);
        byte[]? buffer = null;
        try
        {
            buffer = ImageBuffers.Pool.Rent(bytes);
            var result = ImageBuffers.Pinned(buffer, address => codec.GetPixels(target, address));
            string? problem = result == SKCodecResult.IncompleteInput && !options.AcceptIncomplete ? "incomplete image data: the file is cut short"
                : result is not (SKCodecResult.Success or SKCodecResult.IncompleteInput) ? $"cannot be decoded ({result})"
                : null;
            if (problem is not null)
                return RawImage.Failed(problem, info.Width, info.Height, format);
            if (upright)
            {
                var image = new RawImage(buffer, target.Width, target.Height, info.Width, info.Height, format, held);
                buffer = null;
                held = 0;
                return image;
            }
            var turned = ImageBuffers.Pool.Rent(bytes);
            var (width, height) = Orient(buffer.AsSpan(0, bytes), target.Width, target.Height, codec.EncodedOrigin, turned.AsSpan(0, bytes));
            var uprighted = new RawImage(turned, width, height, info.Width, info.Height, format, held);
            held = 0;
            return uprighted;
        }
        finally
        {
            if (buffer is not null) ImageBuffers.Pool.Return(buffer);
            if (held > 0) MemoryGate.Decoding.Exit(held);
        }
    }

    /// <summary>
    /// The decode size: for a JPEG whose shorter side is at least twice <paramref name="minSide"/>, the smallest n/8
    /// scale (n ≤ 4) whose shorter side still covers <paramref name="minSide"/>; otherwise, and for other formats, the
    /// full size.
    /// </summary>
    /// <remarks>
    /// Scaling only when it at least halves each side: a 7/8 or 3/4 decode saves little, and without it an image
    /// under twice the input decodes to exactly the pixels ML.NET's own loader gives (the shared splits' photos,
    /// thumbnails, screenshots), which a test checks against DnnFeaturizeImage.
    /// </remarks>
    internal static SKSizeI ScaledSize(SKCodec codec, int minSide)
    {
        var full = new SKSizeI(codec.Info.Width, codec.Info.Height);
        if (codec.EncodedFormat != SKEncodedImageFormat.Jpeg || Math.Min(full.Width, full.Height) < 2 * minSide)
            return full;
        for (int eighths = 1; eighths <= 4; eighths++)
        {
            var scaled = codec.GetScaledDimensions(eighths / 8f);
            if (Math.Min(scaled.Width, scaled.Height) >= minSide)
                return scaled;
        }
        return full;
    }

    /// <summary>
    /// Writes BGRA pixels stored as <paramref name="origin"/> says (EXIF orientation 1–8) into <paramref name="upright"/>
    /// (the same length) as the upright image a viewer shows; returns its size.
    /// </summary>
    internal static (int Width, int Height) Orient(ReadOnlySpan<byte> pixels, int width, int height, SKEncodedOrigin origin, Span<byte> upright)
    {
        bool swap = origin is SKEncodedOrigin.LeftTop or SKEncodedOrigin.RightTop or SKEncodedOrigin.RightBottom or SKEncodedOrigin.LeftBottom;
        int outWidth = swap ? height : width, outHeight = swap ? width : height;
        var source = MemoryMarshal.Cast<byte, uint>(pixels);
        var destination = MemoryMarshal.Cast<byte, uint>(upright);
        // Where the upright pixel (x, y) is stored, as (sx, sy); along an upright row it moves by a fixed index step.
        (int X, int Y) Stored(int x, int y) => origin switch
        {
            SKEncodedOrigin.TopRight => (width - 1 - x, y),                  // 2: mirrored
            SKEncodedOrigin.BottomRight => (width - 1 - x, height - 1 - y),  // 3: turned 180°
            SKEncodedOrigin.BottomLeft => (x, height - 1 - y),               // 4: mirrored vertically
            SKEncodedOrigin.LeftTop => (y, x),                               // 5: transposed
            SKEncodedOrigin.RightTop => (y, height - 1 - x),                 // 6: turn 90° clockwise to view
            SKEncodedOrigin.RightBottom => (width - 1 - y, height - 1 - x),  // 7: transversed
            SKEncodedOrigin.LeftBottom => (width - 1 - y, x),                // 8: turn 90° anticlockwise to view
            _ => (x, y),
        };
        for (int y = 0; y < outHeight; y++)
        {
            var (x0, y0) = Stored(0, y);
            var (x1, y1) = Stored(1, y); // past the row's end when it has one pixel: then only its index step is unused
            int start = y0 * width + x0, step = (y1 - y0) * width + (x1 - x0);
            var row = destination.Slice(y * outWidth, outWidth);
            for (int x = 0, i = start; x < row.Length; x++, i += step)
                row[x] = source[i];
        }
        return (outWidth, outHeight);
    }

    private static DecodedImage Failed(string problem) => new(null, problem, 0, 0, null);
}

using System.Buffers;
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
        if (!File.Exists(path))
            return Failed("file not found");
        if (new FileInfo(path).Length == 0)
            return Failed("empty file (0 bytes)");
        using var stream = File.OpenRead(path);
        return Decode(stream, minSide, options);
    }

    /// <summary>Decodes encoded image bytes.</summary>
    public static DecodedImage Decode(ReadOnlySpan<byte> bytes, int minSide, ImageDecoding? options = null)
    {
        if (bytes.IsEmpty)
            return Failed("empty file (0 bytes)");
        using var stream = new MemoryStream(bytes.ToArray(), writable: false);
        return Decode(stream, minSide, options);
    }

    /// <summary>Decodes an encoded image from <paramref name="stream"/> (read from its current position).</summary>
    public static DecodedImage Decode(Stream stream, int minSide, ImageDecoding? options = null)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(minSide);
        options ??= ImageDecoding.Default;
        using var codec = SKCodec.Create(stream, out var created);
        if (codec is null)
            return Failed(created == SKCodecResult.Unimplemented || created == SKCodecResult.InvalidInput || created == SKCodecResult.CouldNotRewind
                ? "not an image in a supported format (PNG, JPEG, GIF, BMP, WebP)"
                : $"not a readable image ({created})");

        var info = codec.Info;
        string format = codec.EncodedFormat.ToString();
        long pixels = (long)info.Width * info.Height;
        if (info.Width <= 0 || info.Height <= 0)
            return new DecodedImage(null, "image has no pixels", info.Width, info.Height, format);
        if (pixels > options.MaxPixels)
            return new DecodedImage(null,
                $"{info.Width}×{info.Height} pixels ({pixels / 1e6:0.#} megapixels) is over the limit of {options.MaxPixels / 1e6:0.#} megapixels; not decoded",
                info.Width, info.Height, format);

        var size = ScaledSize(codec, minSide);
        var target = new SKImageInfo(size.Width, size.Height, SKColorType.Bgra8888, info.AlphaType == SKAlphaType.Opaque ? SKAlphaType.Opaque : SKAlphaType.Premul);
        int bytes = target.BytesSize;
        // Pooled: MLImage copies the pixels, and a photo's 0.76 MB (504×378 BGRA) per image would otherwise churn the
        // large-object heap on every decode.
        var buffer = ArrayPool<byte>.Shared.Rent(bytes);
        byte[]? turned = null;
        try
        {
            SKCodecResult result;
            var handle = GCHandle.Alloc(buffer, GCHandleType.Pinned);
            try
            {
                result = codec.GetPixels(target, handle.AddrOfPinnedObject());
            }
            finally
            {
                handle.Free();
            }
            if (result == SKCodecResult.IncompleteInput && !options.AcceptIncomplete)
                return new DecodedImage(null, "incomplete image data: the file is cut short", info.Width, info.Height, format);
            if (result is not (SKCodecResult.Success or SKCodecResult.IncompleteInput))
                return new DecodedImage(null, $"cannot be decoded ({result})", info.Width, info.Height, format);

            if (codec.EncodedOrigin == SKEncodedOrigin.TopLeft)
                return new DecodedImage(MLImage.CreateFromPixels(target.Width, target.Height, MLPixelFormat.Bgra32, buffer.AsSpan(0, bytes)), null, info.Width, info.Height, format);
            turned = ArrayPool<byte>.Shared.Rent(bytes);
            var (width, height) = Orient(buffer.AsSpan(0, bytes), target.Width, target.Height, codec.EncodedOrigin, turned.AsSpan(0, bytes));
            return new DecodedImage(MLImage.CreateFromPixels(width, height, MLPixelFormat.Bgra32, turned.AsSpan(0, bytes)), null, info.Width, info.Height, format);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
            if (turned is not null) ArrayPool<byte>.Shared.Return(turned);
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
        for (int y = 0; y < outHeight; y++)
            for (int x = 0; x < outWidth; x++)
            {
                // Where the upright pixel (x, y) is stored.
                var (sx, sy) = origin switch
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
                destination[y * outWidth + x] = source[sy * width + sx];
            }
        return (outWidth, outHeight);
    }

    private static DecodedImage Failed(string problem) => new(null, problem, 0, 0, null);
}

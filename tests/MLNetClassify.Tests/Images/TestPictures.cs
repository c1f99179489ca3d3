using System.Buffers.Binary;
using System.IO.Compression;
using SkiaSharp;

namespace MLNetClassify.Tests.Images;

/// <summary>Images in every format and shape the decoder tests need, made in the test (nothing downloaded).</summary>
internal static class TestPictures
{
    /// <summary>An upright W×H picture: grey, a red block in the top-left corner, a green one in the top-right.</summary>
    public static SKBitmap Marked(int width, int height)
    {
        var bitmap = new SKBitmap(width, height, SKColorType.Bgra8888, SKAlphaType.Premul);
        using var canvas = new SKCanvas(bitmap);
        canvas.Clear(new SKColor(128, 128, 128));
        using var paint = new SKPaint { Color = SKColors.Red };
        canvas.DrawRect(0, 0, width / 4f, height / 4f, paint);
        paint.Color = SKColors.Lime;
        canvas.DrawRect(width * 3 / 4f, 0, width / 4f, height / 4f, paint);
        return bitmap;
    }

    /// <summary>How a camera stores <paramref name="upright"/> when it writes EXIF orientation <paramref name="orientation"/>.</summary>
    public static SKBitmap Stored(SKBitmap upright, int orientation)
    {
        int w = upright.Width, h = upright.Height;
        bool swap = orientation >= 5;
        var stored = new SKBitmap(swap ? h : w, swap ? w : h, SKColorType.Bgra8888, SKAlphaType.Premul);
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
            {
                // Where upright (x, y) lands in the stored image: the inverse of what a viewer applies.
                var (sx, sy) = orientation switch
                {
                    2 => (w - 1 - x, y),           // mirrored left-right
                    3 => (w - 1 - x, h - 1 - y),   // upside down
                    4 => (x, h - 1 - y),           // mirrored top-bottom
                    5 => (y, x),                   // mirrored across the main diagonal
                    6 => (y, w - 1 - x),           // turned 90° anticlockwise (the viewer turns it clockwise)
                    7 => (h - 1 - y, w - 1 - x),   // mirrored across the other diagonal
                    8 => (h - 1 - y, x),           // turned 90° clockwise (the viewer turns it anticlockwise)
                    _ => (x, y),
                };
                stored.SetPixel(sx, sy, upright.GetPixel(x, y));
            }
        return stored;
    }

    public static byte[] Encode(SKBitmap bitmap, SKEncodedImageFormat format, int quality = 95)
    {
        using var image = SKImage.FromBitmap(bitmap);
        using var data = image.Encode(format, quality);
        return data.ToArray();
    }

    /// <summary>A JPEG with an EXIF APP1 segment that holds just the orientation tag (0x0112).</summary>
    public static byte[] JpegWithOrientation(SKBitmap stored, int orientation)
    {
        var jpeg = Encode(stored, SKEncodedImageFormat.Jpeg);
        var app1 = new List<byte> { 0xFF, 0xE1, 0, 0 };
        app1.AddRange("Exif\0\0"u8.ToArray());
        app1.AddRange([(byte)'I', (byte)'I', 0x2A, 0, 8, 0, 0, 0]);         // TIFF header, little-endian, IFD at 8
        app1.AddRange([1, 0]);                                               // one entry
        app1.AddRange([0x12, 0x01, 3, 0, 1, 0, 0, 0, (byte)orientation, 0, 0, 0]); // Orientation, SHORT, 1 value
        app1.AddRange([0, 0, 0, 0]);                                         // no next IFD
        int length = app1.Count - 2;
        app1[2] = (byte)(length >> 8);
        app1[3] = (byte)length;
        return [.. jpeg[..2], .. app1, .. jpeg[2..]];
    }

    /// <summary>An uncompressed 24-bit bottom-up BMP (Skia writes no BMP).</summary>
    public static byte[] Bmp(SKBitmap bitmap)
    {
        int w = bitmap.Width, h = bitmap.Height, row = (w * 3 + 3) / 4 * 4;
        var bytes = new byte[54 + row * h];
        "BM"u8.CopyTo(bytes);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(2), bytes.Length);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(10), 54);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(14), 40);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(18), w);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(22), h);
        BinaryPrimitives.WriteInt16LittleEndian(bytes.AsSpan(26), 1);
        BinaryPrimitives.WriteInt16LittleEndian(bytes.AsSpan(28), 24);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(34), row * h);
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
            {
                var c = bitmap.GetPixel(x, h - 1 - y);
                int at = 54 + y * row + x * 3;
                (bytes[at], bytes[at + 1], bytes[at + 2]) = (c.Blue, c.Green, c.Red);
            }
        return bytes;
    }

    /// <summary>GIF89a, 1×1 (the classic single-pixel GIF).</summary>
    public static byte[] Gif { get; } = Convert.FromHexString("47494638396101000100800000ffffff00000021f90401000000002c00000000010001000002024401003b");

    /// <summary>
    /// A decompression bomb: a valid <paramref name="side"/>² 1-bit greyscale PNG of zeros, a few hundred KB on disk,
    /// gigabytes once decoded to BGRA.
    /// </summary>
    public static byte[] PngBomb(int side)
    {
        using var png = new MemoryStream();
        png.Write([0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A]);
        var ihdr = new byte[13];
        BinaryPrimitives.WriteInt32BigEndian(ihdr, side);
        BinaryPrimitives.WriteInt32BigEndian(ihdr.AsSpan(4), side);
        ihdr[8] = 1; // bit depth 1, colour type 0 (grey), no interlace
        Chunk(png, "IHDR", ihdr);
        using (var idat = new MemoryStream())
        {
            using (var z = new ZLibStream(idat, CompressionLevel.Fastest, leaveOpen: true))
            {
                var row = new byte[1 + (side + 7) / 8];
                for (int y = 0; y < side; y++) z.Write(row);
            }
            Chunk(png, "IDAT", idat.ToArray());
        }
        Chunk(png, "IEND", []);
        return png.ToArray();
    }

    /// <summary>A JPEG whose header claims <paramref name="side"/>² pixels (the SOF0 dimensions patched); the data is a small image's.</summary>
    public static byte[] JpegClaiming(int side)
    {
        using var small = Marked(64, 64);
        var jpeg = Encode(small, SKEncodedImageFormat.Jpeg);
        for (int i = 2; i < jpeg.Length - 9; i++)
            if (jpeg[i] == 0xFF && jpeg[i + 1] is 0xC0 or 0xC2) // SOF0 / SOF2: length(2) precision(1) height(2) width(2)
            {
                BinaryPrimitives.WriteUInt16BigEndian(jpeg.AsSpan(i + 5), (ushort)side);
                BinaryPrimitives.WriteUInt16BigEndian(jpeg.AsSpan(i + 7), (ushort)side);
                return jpeg;
            }
        throw new InvalidOperationException("no SOF marker");
    }

    /// <summary>PNG's CRC-32 (ISO 3309, reflected, polynomial 0xEDB88320).</summary>
    private static uint Crc32(ReadOnlySpan<byte> data)
    {
        uint crc = 0xFFFFFFFF;
        foreach (byte b in data)
        {
            crc ^= b;
            for (int k = 0; k < 8; k++)
                crc = (crc & 1) != 0 ? (crc >> 1) ^ 0xEDB88320 : crc >> 1;
        }
        return ~crc;
    }

    private static void Chunk(Stream png, string type, byte[] data)
    {
        var length = new byte[4];
        BinaryPrimitives.WriteInt32BigEndian(length, data.Length);
        png.Write(length);
        var typed = System.Text.Encoding.ASCII.GetBytes(type).Concat(data).ToArray();
        png.Write(typed);
        var crc = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(crc, Crc32(typed));
        png.Write(crc);
    }
}

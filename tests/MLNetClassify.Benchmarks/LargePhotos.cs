using SkiaSharp;

namespace MLNetClassify.Benchmarks;

/// <summary>
/// Makes the large-photo set: the first N images of each label folder of a data set, upscaled to 4032×3024 (a
/// 12-megapixel phone photo) and written as JPEG quality 90 under the same label folders.
/// </summary>
internal static class LargePhotos
{
    public static int Run(string source, string target, int perLabel)
    {
        int written = 0;
        foreach (var labelDir in Directory.GetDirectories(source).Order(StringComparer.Ordinal))
        {
            var outDir = Path.Combine(target, Path.GetFileName(labelDir));
            Directory.CreateDirectory(outDir);
            foreach (var file in Directory.GetFiles(labelDir).Order(StringComparer.Ordinal).Take(perLabel))
            {
                using var small = SKBitmap.Decode(file);
                if (small is null) continue;
                using var large = small.Resize(new SKImageInfo(4032, 3024), SKFilterQuality.High);
                using var image = SKImage.FromBitmap(large);
                using var jpeg = image.Encode(SKEncodedImageFormat.Jpeg, 90);
                File.WriteAllBytes(Path.Combine(outDir, Path.GetFileNameWithoutExtension(file) + ".jpg"), jpeg.ToArray());
                written++;
            }
        }
        Console.WriteLine($"{written} photos of 4032×3024 written under {target}");
        return written > 0 ? 0 : 1;
    }
}

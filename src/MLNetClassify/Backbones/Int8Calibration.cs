using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetClassify.Data.Synthetic;
using MLNetClassify.Images;

namespace MLNetClassify.Backbones;

/// <summary>
/// Calibration images for int8 quantization: generated Logo-vs-Other pictures (gradients, noise, shapes, strokes),
/// the same on every machine, so a backbone's int8 graph depends on nothing but its spec.
/// </summary>
internal static class Int8Calibration
{
    public const int Images = 48;

    /// <summary><see cref="Images"/> images as RGB 0–255 planes of <paramref name="size"/>², read by the stock image steps.</summary>
    public static float[] Pixels(int size)
    {
        var rng = new Random(20261127);
        int perImage = 3 * size * size;
        var pixels = new float[Images * perImage];
        using var readers = new PixelReaders(new MLContext(1), size);
        for (int i = 0; i < Images; i++)
        {
            using var image = MLImage.CreateFromStream(new MemoryStream(LogoDataset.Render(rng, 224, withLogo: i % 2 == 0)));
            if (readers.TryRead(ImageSource.FromImage(image, $"calibration {i}"), pixels.AsSpan(i * perImage, perImage)) is { } error)
                throw new InvalidOperationException($"Generated calibration image {i} could not be read: {error}");
        }
        return pixels;
    }
}

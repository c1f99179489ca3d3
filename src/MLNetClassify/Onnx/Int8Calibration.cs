using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetClassify.Images;

namespace MLNetClassify.Onnx;

/// <summary>
/// Calibration images for int8 quantization: generated scenes (gradients, noise, shapes, strokes; <see cref="SyntheticScene"/>),
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
            using var image = MLImage.CreateFromStream(new MemoryStream(SyntheticScene.Render(rng, 224)));
            if (readers.TryRead(ImageSource.FromImage(image, $"calibration {i}"), pixels.AsSpan(i * perImage, perImage)) is { } error)
                throw new InvalidOperationException($"Generated calibration image {i} could not be read: {error}");
        }
        return pixels;
    }
}

using MLNetClassify.Data;
using MLNetClassify.Images;
using SkiaSharp;

namespace MLNetClassify.Cli.Demo;

/// <summary>Options for <see cref="LogoDataset"/>.</summary>
internal sealed record LogoDatasetOptions
{
    /// <summary>Images of each class ("logo" and "other").</summary>
    public int ImagesPerClass { get; init; } = 120;

    /// <summary>Side length of the square images, in pixels.</summary>
    public int Size { get; init; } = 224;

    /// <summary>Seed: the same seed writes the same images.</summary>
    public int Seed { get; init; } = 1;
}

/// <summary>
/// The product's running example, generated: "logo" images show the MLNetClassify logo (an orange ring around a
/// blue triangle with a white bar) composited at a random position, size, rotation and opacity onto a generated
/// background (gradients, noise, shapes, text-like strokes); "other" images have the same kinds of background,
/// some with distractor rings and triangles, and no logo. Text is drawn as strokes, not with a font, so the images
/// are the same on every machine.
/// </summary>
internal static class LogoDataset
{
    /// <summary>Label of images with the logo.</summary>
    public const string LogoLabel = "logo";

    /// <summary>Label of images without it.</summary>
    public const string OtherLabel = "other";

    private static readonly SKColor Orange = new(0xF2, 0x8C, 0x28);
    private static readonly SKColor Blue = new(0x1F, 0x5A, 0xA6);

    /// <summary>
    /// Writes <c>logo/</c> and <c>other/</c> JPEG folders under <paramref name="directory"/>, replacing what was
    /// there only once the new set is complete, and returns the images.
    /// </summary>
    public static IReadOnlyList<LabeledImage> Generate(string directory, LogoDatasetOptions? options = null) => Generate(directory, options, out _);

    /// <summary>As <see cref="Generate(string, LogoDatasetOptions?)"/>, also giving each logo image's logo bounding box (pixels), by final path.</summary>
    public static IReadOnlyList<LabeledImage> Generate(string directory, LogoDatasetOptions? options, out IReadOnlyDictionary<string, SKRect> logoBoxes)
    {
        var boxes = new Dictionary<string, SKRect>(StringComparer.Ordinal);
        options ??= new LogoDatasetOptions();
        if (options.ImagesPerClass <= 0) throw new ArgumentOutOfRangeException(nameof(options), options.ImagesPerClass, "ImagesPerClass must be positive.");
        if (options.Size < 32) throw new ArgumentOutOfRangeException(nameof(options), options.Size, "Size must be at least 32.");
        var target = Path.GetFullPath(directory);
        var staging = $"{target}.{Environment.ProcessId}.tmp";
        if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true);
        var rng = new Random(options.Seed);
        foreach (var label in new[] { LogoLabel, OtherLabel })
        {
            Directory.CreateDirectory(Path.Combine(staging, label));
            for (int i = 0; i < options.ImagesPerClass; i++)
            {
                var bytes = Render(rng, options.Size, label == LogoLabel, out var box);
                File.WriteAllBytes(Path.Combine(staging, label, $"{label}_{i:D4}.jpg"), bytes);
                if (box is { } b) boxes[Path.Combine(target, label, $"{label}_{i:D4}.jpg")] = b;
            }
        }
        if (Directory.Exists(target)) Directory.Delete(target, recursive: true);
        Directory.Move(staging, target);
        logoBoxes = boxes;
        return ImageDataset.FromFolder(target);
    }

    /// <summary>One JPEG-encoded image, with or without the logo.</summary>
    public static byte[] Render(Random rng, int size, bool withLogo) => Render(rng, size, withLogo, out _);

    /// <summary>One JPEG-encoded image, and the logo's bounding box (the ring's; null without a logo).</summary>
    public static byte[] Render(Random rng, int size, bool withLogo, out SKRect? logoBox)
    {
        logoBox = null;
        using var bitmap = new SKBitmap(size, size, SKColorType.Rgba8888, SKAlphaType.Premul);
        using (var canvas = new SKCanvas(bitmap))
        {
            SyntheticScene.DrawBackground(canvas, rng, size);
            if (withLogo)
                logoBox = DrawLogo(canvas, size * (float)(0.5 + 0.35 * (rng.NextDouble() - 0.5)), rng, size);
            else if (rng.NextDouble() < 0.4)
                DrawDistractor(canvas, rng, size);
        }
        using var image = SKImage.FromBitmap(bitmap);
        using var data = image.Encode(SKEncodedImageFormat.Jpeg, 90);
        return data.ToArray();
    }

    private static SKRect DrawLogo(SKCanvas canvas, float diameter, Random rng, int size)
    {
        float r = diameter / 2;
        float cx = r + Next(rng, size - diameter), cy = r + Next(rng, size - diameter);
        float angle = (float)(rng.NextDouble() * 70 - 35);
        byte alpha = (byte)(255 * (0.65 + 0.35 * rng.NextDouble()));
        canvas.Save();
        canvas.Translate(cx, cy);
        canvas.RotateDegrees(angle);
        using var layer = new SKPaint { Color = SKColors.White.WithAlpha(alpha) };
        canvas.SaveLayer(layer);
        using var paint = new SKPaint { IsAntialias = true, Style = SKPaintStyle.Stroke, StrokeWidth = diameter * 0.12f, Color = Orange };
        canvas.DrawCircle(0, 0, r - paint.StrokeWidth / 2, paint);
        paint.Style = SKPaintStyle.Fill;
        paint.Color = Blue;
        using (var triangle = Triangle(r * 0.62f))
            canvas.DrawPath(triangle, paint);
        paint.Color = SKColors.White;
        canvas.DrawRect(-r * 0.36f, r * 0.02f, r * 0.72f, r * 0.12f, paint);
        canvas.Restore();
        canvas.Restore();
        return new SKRect(cx - r, cy - r, cx + r, cy + r); // a ring's box, whatever its rotation
    }

    private static void DrawDistractor(SKCanvas canvas, Random rng, int size)
    {
        // Parts that resemble the logo's, in other colours and never together: the classifier must learn the logo.
        float r = size * (0.15f + 0.15f * (float)rng.NextDouble());
        float cx = r + Next(rng, size - 2 * r), cy = r + Next(rng, size - 2 * r);
        using var paint = new SKPaint { IsAntialias = true, Color = RandomColor(rng) };
        if (rng.Next(2) == 0)
        {
            paint.Style = SKPaintStyle.Stroke;
            paint.StrokeWidth = r * 0.2f;
            canvas.DrawCircle(cx, cy, r, paint);
        }
        else
        {
            using var triangle = Triangle(r);
            triangle.Offset(cx, cy);
            canvas.DrawPath(triangle, paint);
        }
    }

    private static SKPath Triangle(float r)
    {
        var path = new SKPath();
        path.MoveTo(0, -r);
        path.LineTo(r * 0.87f, r * 0.5f);
        path.LineTo(-r * 0.87f, r * 0.5f);
        path.Close();
        return path;
    }

    private static SKColor RandomColor(Random rng) => SyntheticScene.RandomColor(rng);

    private static float Next(Random rng, float max) => SyntheticScene.Next(rng, max);
}

using SkiaSharp;

namespace MLNetClassify.Data.Synthetic;

/// <summary>Options for <see cref="LogoDataset"/>.</summary>
public sealed record LogoDatasetOptions
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
public static class LogoDataset
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
    public static IReadOnlyList<LabeledImage> Generate(string directory, LogoDatasetOptions? options = null)
    {
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
                var bytes = Render(rng, options.Size, label == LogoLabel);
                File.WriteAllBytes(Path.Combine(staging, label, $"{label}_{i:D4}.jpg"), bytes);
            }
        }
        if (Directory.Exists(target)) Directory.Delete(target, recursive: true);
        Directory.Move(staging, target);
        return ImageDataset.FromFolder(target);
    }

    /// <summary>One JPEG-encoded image, with or without the logo.</summary>
    public static byte[] Render(Random rng, int size, bool withLogo)
    {
        using var bitmap = new SKBitmap(size, size, SKColorType.Rgba8888, SKAlphaType.Premul);
        using (var canvas = new SKCanvas(bitmap))
        {
            DrawBackground(canvas, rng, size);
            if (withLogo)
                DrawLogo(canvas, size * (float)(0.5 + 0.35 * (rng.NextDouble() - 0.5)), rng, size);
            else if (rng.NextDouble() < 0.4)
                DrawDistractor(canvas, rng, size);
        }
        using var image = SKImage.FromBitmap(bitmap);
        using var data = image.Encode(SKEncodedImageFormat.Jpeg, 90);
        return data.ToArray();
    }

    private static void DrawBackground(SKCanvas canvas, Random rng, int size)
    {
        using var paint = new SKPaint { IsAntialias = true };
        var a = RandomColor(rng);
        var b = RandomColor(rng);
        paint.Shader = rng.Next(2) == 0
            ? SKShader.CreateLinearGradient(new SKPoint(0, 0), new SKPoint(size * (float)rng.NextDouble(), size), [a, b], SKShaderTileMode.Clamp)
            : SKShader.CreateRadialGradient(new SKPoint(size * (float)rng.NextDouble(), size * (float)rng.NextDouble()), size * 0.8f, [a, b], SKShaderTileMode.Clamp);
        canvas.DrawRect(0, 0, size, size, paint);
        paint.Shader = null;

        int shapes = rng.Next(0, 14);
        for (int i = 0; i < shapes; i++)
        {
            paint.Color = RandomColor(rng).WithAlpha((byte)rng.Next(60, 220));
            paint.Style = rng.Next(3) == 0 ? SKPaintStyle.Stroke : SKPaintStyle.Fill;
            paint.StrokeWidth = 1 + (float)rng.NextDouble() * 5;
            float x = Next(rng, size), y = Next(rng, size), w = Next(rng, size / 3f), h = Next(rng, size / 3f);
            switch (rng.Next(3))
            {
                case 0: canvas.DrawRect(x, y, w, h, paint); break;
                case 1: canvas.DrawOval(x, y, w / 2, h / 2, paint); break;
                default: canvas.DrawLine(x, y, Next(rng, size), Next(rng, size), paint); break;
            }
        }

        if (rng.Next(2) == 0)
            DrawTextLines(canvas, rng, size);
        if (rng.Next(3) == 0)
            DrawNoise(canvas, rng, size);
    }

    private static void DrawTextLines(SKCanvas canvas, Random rng, int size)
    {
        // Words as runs of short vertical and horizontal strokes: text-like texture with no font involved.
        using var paint = new SKPaint { IsAntialias = true, Color = RandomColor(rng).WithAlpha(230), StrokeWidth = 1.5f };
        float lineHeight = 8 + Next(rng, 8);
        float top = Next(rng, size / 2f);
        int lines = rng.Next(1, 6);
        for (int line = 0; line < lines; line++)
        {
            float y = top + line * lineHeight * 1.6f;
            float x = Next(rng, size / 4f);
            while (x < size - 10)
            {
                int letters = rng.Next(2, 8);
                for (int l = 0; l < letters; l++, x += lineHeight * 0.6f)
                {
                    canvas.DrawLine(x, y, x, y + lineHeight, paint);
                    if (rng.Next(2) == 0) canvas.DrawLine(x, y + lineHeight * (float)rng.NextDouble(), x + lineHeight * 0.4f, y + lineHeight * (float)rng.NextDouble(), paint);
                }
                x += lineHeight * 0.8f;
            }
        }
    }

    private static void DrawNoise(SKCanvas canvas, Random rng, int size)
    {
        using var paint = new SKPaint();
        int cell = rng.Next(2, 6);
        for (int y = 0; y < size; y += cell)
            for (int x = 0; x < size; x += cell)
            {
                paint.Color = RandomColor(rng).WithAlpha((byte)rng.Next(20, 90));
                canvas.DrawRect(x, y, cell, cell, paint);
            }
    }

    private static void DrawLogo(SKCanvas canvas, float diameter, Random rng, int size)
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

    private static SKColor RandomColor(Random rng) => new((byte)rng.Next(256), (byte)rng.Next(256), (byte)rng.Next(256));

    private static float Next(Random rng, float max) => (float)rng.NextDouble() * Math.Max(max, 0);
}

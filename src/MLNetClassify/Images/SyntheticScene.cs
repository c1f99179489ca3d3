using SkiaSharp;

namespace MLNetClassify.Images;

/// <summary>
/// Generated pictures with no subject: gradients, shapes, text-like strokes (no font) and noise, the same on every
/// machine for a seed. They calibrate int8 graphs and warm up loaded models, and the demo's Logo-vs-Other set draws
/// its backgrounds with them.
/// </summary>
internal static class SyntheticScene
{
    /// <summary>One JPEG-encoded scene of <paramref name="size"/>² pixels.</summary>
    public static byte[] Render(Random rng, int size)
    {
        using var bitmap = new SKBitmap(size, size, SKColorType.Rgba8888, SKAlphaType.Premul);
        using (var canvas = new SKCanvas(bitmap))
            DrawBackground(canvas, rng, size);
        using var image = SKImage.FromBitmap(bitmap);
        using var data = image.Encode(SKEncodedImageFormat.Jpeg, 90);
        return data.ToArray();
    }

    /// <summary>Fills the canvas with a gradient, then shapes, strokes and noise drawn from <paramref name="rng"/>.</summary>
    public static void DrawBackground(SKCanvas canvas, Random rng, int size)
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

    /// <summary>An opaque colour drawn from <paramref name="rng"/>.</summary>
    public static SKColor RandomColor(Random rng) => new((byte)rng.Next(256), (byte)rng.Next(256), (byte)rng.Next(256));

    /// <summary>A float in [0, max) drawn from <paramref name="rng"/>.</summary>
    public static float Next(Random rng, float max) => (float)rng.NextDouble() * Math.Max(max, 0);
}

using Microsoft.ML.Data;
using MLNetClassify.Images;
using MLNetClassify.Explanations;
using SkiaSharp;

namespace MLNetClassify.Cli.Reports;

/// <summary>
/// The report's pictures, drawn with SkiaSharp (the image library ML.NET's MLImage already brings; ScottPlot 5.1.59,
/// the one served, needs SkiaSharp 3.119 beside it, a second image stack), written as PNG.
/// </summary>
internal static class Figures
{
    private static readonly SKColor Ink = new(0x22, 0x22, 0x22);
    private static readonly SKColor[] Series = [new(0x3B, 0x6E, 0xA8), new(0xE0, 0x7B, 0x39), new(0x5B, 0xA0, 0x5B), new(0x9C, 0x5B, 0xA8)];

    private static SKPaint Text(float size = 13, SKColor? color = null) => new() { Color = color ?? Ink, TextSize = size, IsAntialias = true };

    private static SKPaint Fill(SKColor color) => new() { Color = color, IsAntialias = true, Style = SKPaintStyle.Fill };

    /// <summary>Writes <paramref name="bitmap"/> to <paramref name="path"/> as PNG.</summary>
    public static void Save(SKBitmap bitmap, string path)
    {
        using var image = SKImage.FromBitmap(bitmap);
        using var data = image.Encode(SKEncodedImageFormat.Png, 100);
        File.WriteAllBytes(path, data.ToArray());
    }

    /// <summary>The image decoded as the model saw it (upright, stretched to a square), <paramref name="side"/> pixels.</summary>
    public static SKBitmap Picture(string path, int side)
    {
        var decoded = ImageDecoder.Decode(path, side);
        using var image = decoded.Image ?? throw new InvalidDataException($"{path}: {decoded.Problem}");
        using var full = new SKBitmap(new SKImageInfo(image.Width, image.Height, SKColorType.Bgra8888, SKAlphaType.Premul));
        var pixels = image.Pixels.ToArray(); // BGRA, rows of Width × 4 bytes: the bitmap's own layout
        System.Runtime.InteropServices.Marshal.Copy(pixels, 0, full.GetPixels(), pixels.Length);
        return full.Resize(new SKImageInfo(side, side, SKColorType.Bgra8888, SKAlphaType.Premul), SKFilterQuality.Medium);
    }

    /// <summary>The image with its class activation map over it: transparent where the evidence is weakest, opaque red where strongest.</summary>
    public static SKBitmap Overlay(string path, ClassActivationMap map, int side = 224)
    {
        var picture = Picture(path, side);
        float min = map.Values.Min(), max = map.Values.Max();
        using var heat = new SKBitmap(new SKImageInfo(map.Width, map.Height, SKColorType.Rgba8888, SKAlphaType.Unpremul));
        for (int y = 0; y < map.Height; y++)
            for (int x = 0; x < map.Width; x++)
            {
                float v = (map.Values[y * map.Width + x] - min) / Math.Max(max - min, 1e-6f);
                heat.SetPixel(x, y, new SKColor(255, (byte)(200 * (1 - v)), 0, (byte)(190 * v)));
            }
        using var canvas = new SKCanvas(picture);
        using var smooth = new SKPaint { FilterQuality = SKFilterQuality.High };
        canvas.DrawBitmap(heat, new SKRect(0, 0, side, side), smooth);
        return picture;
    }

    /// <summary>A confusion matrix as a heat map with counts: rows true, columns predicted, shaded by the row's share.</summary>
    public static SKBitmap ConfusionMatrix(IReadOnlyList<string> labels, int[][] counts)
    {
        int k = labels.Count, cell = Math.Clamp(480 / Math.Max(k, 1), 28, 90), left = 130, top = 70;
        var bitmap = new SKBitmap(left + k * cell + 20, top + k * cell + 20);
        using var canvas = new SKCanvas(bitmap);
        using var text = Text();
        using var small = Text(Math.Min(13, cell / 3f));
        canvas.Clear(SKColors.White);
        canvas.DrawText("rows: true class · columns: predicted", 10, 20, text);
        for (int t = 0; t < k; t++)
        {
            canvas.DrawText(Short(labels[t], 16), 10, top + t * cell + cell / 2f + 4, text);
            canvas.Save();
            canvas.Translate(left + t * cell + cell / 2f, top - 6);
            canvas.RotateDegrees(-35);
            canvas.DrawText(Short(labels[t], 12), 0, 0, small);
            canvas.Restore();
            int row = Math.Max(1, counts[t].Sum());
            for (int p = 0; p < k; p++)
            {
                double share = counts[t][p] / (double)row;
                using var fill = Fill(new SKColor((byte)(255 - 196 * share), (byte)(255 - 145 * share), (byte)(255 - 87 * share)));
                canvas.DrawRect(left + p * cell, top + t * cell, cell - 2, cell - 2, fill);
                using var number = Text(Math.Min(13, cell / 2.5f), share > 0.5 ? SKColors.White : Ink);
                canvas.DrawText(counts[t][p].ToString(), left + p * cell + 4, top + t * cell + cell / 2f + 4, number);
            }
        }
        return bitmap;
    }

    /// <summary>Grouped horizontal bars: for each category, one bar per series (values in [0, 1]).</summary>
    public static SKBitmap Bars(string title, IReadOnlyList<string> categories, IReadOnlyList<(string Name, IReadOnlyList<double> Values)> series)
    {
        int group = 8 + 14 * series.Count, left = 150, width = 360, top = 50;
        var bitmap = new SKBitmap(left + width + 70, top + categories.Count * group + 20);
        using var canvas = new SKCanvas(bitmap);
        using var text = Text();
        canvas.Clear(SKColors.White);
        canvas.DrawText(title, 10, 20, text);
        for (int s = 0; s < series.Count; s++)
        {
            using var key = Fill(Series[s % Series.Length]);
            canvas.DrawRect(left + s * 90, 28, 10, 10, key);
            canvas.DrawText(series[s].Name, left + s * 90 + 14, 38, text);
        }
        for (int c = 0; c < categories.Count; c++)
        {
            float y = top + c * group;
            canvas.DrawText(Short(categories[c], 18), 10, y + group / 2f + 2, text);
            for (int s = 0; s < series.Count; s++)
            {
                double v = double.IsFinite(series[s].Values[c]) ? Math.Clamp(series[s].Values[c], 0, 1) : 0;
                using var bar = Fill(Series[s % Series.Length]);
                canvas.DrawRect(left, y + 4 + s * 14, (float)(v * width), 12, bar);
                using var label = Text(11);
                canvas.DrawText(series[s].Values[c].ToString("F3"), left + (float)(v * width) + 4, y + 14 + s * 14, label);
            }
        }
        return bitmap;
    }

    /// <summary>Lines over epochs (x from 1), a vertical mark at <paramref name="marked"/>.</summary>
    public static SKBitmap Lines(string title, IReadOnlyList<(string Name, IReadOnlyList<double> Values)> series, int marked)
    {
        const int left = 60, top = 40, width = 520, height = 220;
        var bitmap = new SKBitmap(left + width + 150, top + height + 40);
        using var canvas = new SKCanvas(bitmap);
        using var text = Text();
        canvas.Clear(SKColors.White);
        canvas.DrawText(title, 10, 20, text);
        var all = series.SelectMany(s => s.Values).Where(double.IsFinite).DefaultIfEmpty(0).ToList();
        double lo = Math.Min(0, all.Min()), hi = Math.Max(all.Max(), lo + 1e-9);
        int n = Math.Max(2, series.Max(s => s.Values.Count));
        float X(int epoch) => left + (epoch - 1) * width / (float)(n - 1);
        float Y(double v) => top + height - (float)((v - lo) / (hi - lo)) * height;
        using var axis = new SKPaint { Color = Ink, StrokeWidth = 1, IsAntialias = true, Style = SKPaintStyle.Stroke };
        canvas.DrawLine(left, top, left, top + height, axis);
        canvas.DrawLine(left, top + height, left + width, top + height, axis);
        canvas.DrawText($"{hi:F2}", 8, top + 5, text);
        canvas.DrawText($"{lo:F2}", 8, top + height, text);
        canvas.DrawText("epoch", left + width / 2f, top + height + 30, text);
        using var mark = new SKPaint { Color = new SKColor(0xAA, 0xAA, 0xAA), StrokeWidth = 1, PathEffect = SKPathEffect.CreateDash([4, 4], 0) };
        canvas.DrawLine(X(marked), top, X(marked), top + height, mark);
        canvas.DrawText($"chosen: {marked}", X(marked) + 4, top + 12, text);
        for (int s = 0; s < series.Count; s++)
        {
            using var line = new SKPaint { Color = Series[s % Series.Length], StrokeWidth = 2, IsAntialias = true, Style = SKPaintStyle.Stroke };
            using var path = new SKPath();
            for (int e = 0; e < series[s].Values.Count; e++)
            {
                if (!double.IsFinite(series[s].Values[e])) continue;
                if (path.IsEmpty) path.MoveTo(X(e + 1), Y(series[s].Values[e]));
                else path.LineTo(X(e + 1), Y(series[s].Values[e]));
            }
            canvas.DrawPath(path, line);
            using var key = Fill(Series[s % Series.Length]);
            canvas.DrawRect(left + width + 14, top + s * 20, 10, 10, key);
            canvas.DrawText(series[s].Name, left + width + 28, top + 10 + s * 20, text);
        }
        return bitmap;
    }

    /// <summary>Tiles in a row, each with caption lines under it.</summary>
    public static SKBitmap Strip(IReadOnlyList<(SKBitmap Tile, string[] Caption)> tiles)
    {
        int side = tiles.Count == 0 ? 1 : tiles.Max(t => t.Tile.Width), lines = tiles.Count == 0 ? 0 : tiles.Max(t => t.Caption.Length);
        var bitmap = new SKBitmap(Math.Max(1, tiles.Count * (side + 10)), side + 8 + 16 * lines);
        using var canvas = new SKCanvas(bitmap);
        using var text = Text(12);
        canvas.Clear(SKColors.White);
        for (int i = 0; i < tiles.Count; i++)
        {
            canvas.DrawBitmap(tiles[i].Tile, i * (side + 10), 0);
            for (int l = 0; l < tiles[i].Caption.Length; l++)
                canvas.DrawText(tiles[i].Caption[l], i * (side + 10) + 2, side + 18 + 16 * l, text);
        }
        return bitmap;
    }

    private static string Short(string s, int max) => s.Length <= max ? s : s[..(max - 1)] + "…";
}

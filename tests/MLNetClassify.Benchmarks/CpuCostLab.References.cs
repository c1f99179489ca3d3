using System.Diagnostics;
using System.Globalization;
using MLNetClassify.Images;
using SkiaSharp;

namespace MLNetClassify.Benchmarks;

internal static partial class CpuCostLab
{
    /// <summary>
    /// The three kinds: a generated 224-pixel scene (JPEG q90); a 500×375 photo (flowers-200's first of that size when
    /// the shared data is there, else a generated scene); that photo enlarged to 4032×3024 with pixel noise, JPEG q90.
    /// </summary>
    private static List<(string Name, string Path, int Repeats)> MakeImages(string work)
    {
        var small = Path.Combine(work, "scene-224.jpg");
        if (!File.Exists(small))
            File.WriteAllBytes(small, SyntheticScene.Render(new Random(1), Side));

        var photo = FindPhoto(500, 375);
        if (photo is null)
        {
            photo = Path.Combine(work, "scene-500x375.jpg");
            using var scene = SKBitmap.Decode(SyntheticScene.Render(new Random(2), 500));
            using var cut = new SKBitmap(500, 375);
            scene.ExtractSubset(cut, new SKRectI(0, 0, 500, 375));
            Write(cut, photo);
        }

        var large = Path.Combine(work, "noisy-4032x3024-q90.jpg");
        if (!File.Exists(large))
        {
            using var source = SKBitmap.Decode(photo);
            using var big = source.Resize(new SKImageInfo(4032, 3024, SKColorType.Bgra8888, SKAlphaType.Opaque), SKFilterQuality.High);
            var pixels = big.GetPixelSpan().ToArray();
            var rng = new Random(3);
            for (int i = 0; i < pixels.Length; i++)
                if (i % 4 != 3) pixels[i] = (byte)Math.Clamp(pixels[i] + (int)Math.Round(6 * Gaussian(rng)), 0, 255); // sensor-like noise, σ = 6
            using var noisy = new SKBitmap(big.Info);
            System.Runtime.InteropServices.Marshal.Copy(pixels, 0, noisy.GetPixels(), pixels.Length);
            Write(noisy, large);
        }
        return [("224-pixel JPEG", small, 300), ("500×375 photo", photo, 100), ("12-MP photo (noisy, q90)", large, 4)];
    }

    private static string? FindPhoto(int width, int height)
    {
        var root = Path.Combine(AppContext.BaseDirectory, "../../../../../../shared/data/flowers-200");
        if (!Directory.Exists(root)) root = "/work/shared/data/flowers-200";
        if (!Directory.Exists(root)) return null;
        foreach (var file in Directory.EnumerateFiles(root, "*.jpg", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
        {
            using var codec = SKCodec.Create(file);
            if (codec is not null && codec.Info.Width == width && codec.Info.Height == height && codec.EncodedOrigin == SKEncodedOrigin.TopLeft)
                return file;
        }
        return null;
    }

    private static void Write(SKBitmap bitmap, string path)
    {
        using var image = SKImage.FromBitmap(bitmap);
        using var data = image.Encode(SKEncodedImageFormat.Jpeg, 90);
        File.WriteAllBytes(path, data.ToArray());
    }

    private static double Gaussian(Random rng) => Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());

    /// <summary>PIL's draft decode (libjpeg-turbo's DCT scaling, as ours) and tjbench on the same file, same run.</summary>
    private static void References(string path, int repeats, int rounds, double ours)
    {
        // draft('RGB', (S, S)) picks the smallest scale whose result still covers S×S: the scale ours picks for a JPEG at least twice S.
        string script = string.Join("\n",
            "import sys, time",
            "from PIL import Image",
            "path, repeats, rounds, side = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])",
            "def once():",
            "    im = Image.open(path)",
            "    if min(im.size) >= 2 * side: im.draft('RGB', (side, side))",
            "    im.load()",
            "    return im.size",
            "size = once()",
            "times = []",
            "for r in range(rounds):",
            "    t = time.thread_time()",
            "    for i in range(repeats): once()",
            "    times.append((time.thread_time() - t) * 1000 / repeats)",
            "times.sort()",
            "print('%.3f %dx%d %s' % (times[len(times) // 2], size[0], size[1], Image.__version__))");
        var pil = RunTool(File.Exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3",
            ["-c", script, path, (repeats * 2).ToString(CultureInfo.InvariantCulture), rounds.ToString(CultureInfo.InvariantCulture), Side.ToString(CultureInfo.InvariantCulture)]);
        if (pil is { ExitCode: 0 } && pil.Value.Output.Split(' ') is [var ms, var size, var version])
        {
            double pilMs = double.Parse(ms.Trim(), CultureInfo.InvariantCulture);
            Console.WriteLine($"{"PIL " + version.Trim() + " draft decode at " + size,-44} {pilMs,9:0.000}             ours/PIL decode: {ours / pilMs:0.00}  (thread CPU, median)");
        }
        else
            Console.WriteLine($"PIL: skipped ({(pil is null ? "python3 not found" : pil.Value.Output.Trim().Split('\n')[^1])}; Debian: apt-get install python3-pil)");

        using var codec = SKCodec.Create(path);
        string scale = Math.Min(codec.Info.Width, codec.Info.Height) >= 2 * Side ? $"1/{codec.Info.Width / ImageDecoder.ScaledSize(codec, Side).Width}" : "1/1";
        var tj = RunTool("tjbench", [path, "-scale", scale, "-benchtime", "1", "-warmup", "0.5"]);
        var line = tj?.Output.Split('\n').FirstOrDefault(l => l.Contains("Frame rate"));
        if (tj is { ExitCode: 0 } && line is not null && double.TryParse(line.Split(':')[^1].Trim().Split(' ')[0], CultureInfo.InvariantCulture, out double fps))
            Console.WriteLine($"{"tjbench decompress, scale " + scale,-44} {1000 / fps,9:0.000}             (wall ms per image; libjpeg-turbo with SIMD)");
        else
            Console.WriteLine("tjbench: skipped (not found; Debian: apt-get install libjpeg-turbo-progs)");
    }

    private static (int ExitCode, string Output)? RunTool(string file, string[] arguments)
    {
        try
        {
            var info = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (var a in arguments) info.ArgumentList.Add(a);
            using var process = Process.Start(info)!;
            var output = process.StandardOutput.ReadToEndAsync();
            var error = process.StandardError.ReadToEnd();
            process.WaitForExit();
            return (process.ExitCode, output.Result + error);
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return null;
        }
    }

    private static string CpuName()
    {
        var lscpu = RunTool("lscpu", []);
        var line = lscpu?.Output.Split('\n').FirstOrDefault(l => l.StartsWith("Model name", StringComparison.Ordinal));
        return line is null ? "unknown (lscpu missing)" : line.Split(':', 2)[1].Trim();
    }
}

using System.ComponentModel;
using System.Text.Json;
using Microsoft.ML;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using MLNetClassify.Serving;
using MLNetClassify.Export;
using MLNetClassify.Tests.Cli;
using SkiaSharp;

namespace MLNetClassify.Tests.Persistence;

/// <summary>Whether an exported model's top-1 is predict's, and its largest probability difference from predict's, per photo.</summary>
internal sealed record Agreement(IReadOnlyList<string> Photos, bool[] Agrees, double[] Differences)
{
    public int Agree => Agrees.Count(a => a);

    public double Rate => (double)Agree / Photos.Count;

    public double MaxProbabilityDifference => Differences.Max();

    /// <summary>The figures over the photos <paramref name="keep"/> selects.</summary>
    public Agreement Where(Func<string, bool> keep)
    {
        var kept = Enumerable.Range(0, Photos.Count).Where(i => keep(Photos[i])).ToArray();
        return new Agreement(kept.Select(i => Photos[i]).ToList(), kept.Select(i => Agrees[i]).ToArray(), kept.Select(i => Differences[i]).ToArray());
    }

    public override string ToString() =>
        $"top-1 agrees on {Agree} of {Photos.Count}, largest probability difference {MaxProbabilityDifference:F4} "
        + $"({Path.GetFileName(Photos[Array.IndexOf(Differences, MaxProbabilityDifference)])}); disagree: "
        + string.Join(", ", Photos.Where((_, i) => !Agrees[i]).Select(Path.GetFileName));
}

/// <summary>An exported model against <c>predict</c> on the same photo files, in ONNX Runtime here and in onnxruntime-node.</summary>
internal static class ExportAgreement
{
    /// <summary>predict's probabilities: the model zip through <see cref="DecodedImageScorer"/>, the path predict takes.</summary>
    public static float[][] Predict(string modelZip, IReadOnlyList<string> photos)
    {
        var ml = new MLContext(1);
        var model = ml.Model.Load(modelZip, out var schema);
        using var scorer = new DecodedImageScorer(ml, model, inputSchema: schema);
        return photos.Select(p => scorer.Score(p) is { Score: { } score } ? score : throw new InvalidDataException($"{p}: not scored")).ToArray();
    }

    /// <summary>The file's RGB pixels at full size as uint8 [1, H, W, 3], decoded by SkiaSharp as any host's image library would.</summary>
    public static DenseTensor<byte> Rgb(string path)
    {
        using var bitmap = SKBitmap.Decode(path).Copy(SKColorType.Rgba8888);
        var tensor = new DenseTensor<byte>([1, bitmap.Height, bitmap.Width, 3]);
        var pixels = bitmap.Pixels;
        var span = tensor.Buffer.Span;
        for (int i = 0; i < pixels.Length; i++)
            (span[3 * i], span[3 * i + 1], span[3 * i + 2]) = (pixels[i].Red, pixels[i].Green, pixels[i].Blue);
        return tensor;
    }

    public static Agreement InOnnxRuntime(string onnx, IReadOnlyList<string> photos, float[][] expected)
    {
        using var session = new InferenceSession(onnx);
        return Count(photos, expected, photo =>
        {
            using var outputs = session.Run([NamedOnnxValue.CreateFromTensor(OnnxExport.InputName, Rgb(photo))]);
            return (outputs.First(o => o.Name == OnnxExport.ProbabilitiesName).AsTensor<float>().ToArray(),
                outputs.First(o => o.Name == OnnxExport.PredictedName).AsTensor<long>()[0]);
        });
    }

    /// <summary>The folder with onnxruntime-node installed (<c>npm install</c> in deploy/node), or null and why not.</summary>
    public static (string? Folder, string? WhyNot) NodeCheck()
    {
        var folder = Path.Combine(TestPaths.RepoRoot, "deploy", "node");
        if (!Directory.Exists(Path.Combine(folder, "node_modules", "onnxruntime-node")))
            return (null, "onnxruntime-node is not installed: run 'npm install' in deploy/node");
        try
        {
            var version = CliRunner.Process("node", ["--version"], folder);
            return version.ExitCode == 0 ? (folder, null) : (null, $"node --version failed: {version.Stderr}");
        }
        catch (Win32Exception e)
        {
            return (null, $"node is not on the PATH ({e.Message})");
        }
    }

    /// <summary>Runs deploy/node/agreement.js on the photos' full-size RGB bytes and predict's probabilities.</summary>
    public static Agreement InNode(string nodeFolder, string onnx, IReadOnlyList<string> photos, float[][] expected)
    {
        var folder = TestPaths.NewTempDirectory();
        var manifest = photos.Select((photo, i) =>
        {
            var rgb = Rgb(photo);
            var file = $"{i:D4}.rgb";
            File.WriteAllBytes(Path.Combine(folder, file), rgb.Buffer.ToArray());
            return new { file, width = rgb.Dimensions[2], height = rgb.Dimensions[1], probabilities = expected[i] };
        }).ToList();
        File.WriteAllText(Path.Combine(folder, "manifest.json"), JsonSerializer.Serialize(manifest));
        var run = CliRunner.Process("node", [Path.Combine(nodeFolder, "agreement.js"), onnx, folder], nodeFolder);
        Assert.True(run.ExitCode == 0, run.Stderr);
        var result = JsonDocument.Parse(run.StdoutLines[^1]).RootElement.GetProperty("photos").EnumerateArray().ToList();
        Assert.Equal(photos.Count, result.Count);
        return new Agreement(photos, result.Select(r => r.GetProperty("agrees").GetBoolean()).ToArray(),
            result.Select(r => r.GetProperty("difference").GetDouble()).ToArray());
    }

    private static Agreement Count(IReadOnlyList<string> photos, float[][] expected, Func<string, (float[] Probabilities, long Predicted)> run)
    {
        var agrees = new bool[photos.Count];
        var differences = new double[photos.Count];
        for (int i = 0; i < photos.Count; i++)
        {
            var (probabilities, predicted) = run(photos[i]);
            agrees[i] = predicted == Array.IndexOf(expected[i], expected[i].Max());
            differences[i] = probabilities.Select((p, c) => (double)Math.Abs(p - expected[i][c])).Max();
        }
        return new Agreement(photos, agrees, differences);
    }

    /// <summary>
    /// Each original as photos of several sizes and shapes: 300×200 and 200×300 JPEG (smaller than twice the input),
    /// 1000×750 JPEG and PNG, 2016×1512 JPEG (the decoder's DCT scaling: 3/8 and 2/8), a phone photo's shape at half size.
    /// </summary>
    public static IReadOnlyList<string> SeveralSizes(IEnumerable<string> originals, string directory)
    {
        (int W, int H, SKEncodedImageFormat Format)[] sizes =
            [(300, 200, SKEncodedImageFormat.Jpeg), (200, 300, SKEncodedImageFormat.Jpeg), (1000, 750, SKEncodedImageFormat.Jpeg),
             (1000, 750, SKEncodedImageFormat.Png), (2016, 1512, SKEncodedImageFormat.Jpeg)];
        Directory.CreateDirectory(directory);
        var photos = new List<string>();
        foreach (var original in originals)
        {
            using var source = SKBitmap.Decode(original);
            foreach (var (w, h, format) in sizes)
            {
                var path = Path.Combine(directory, $"{Path.GetFileNameWithoutExtension(original)}_{w}x{h}.{(format == SKEncodedImageFormat.Png ? "png" : "jpg")}");
                using var resized = source.Resize(new SKImageInfo(w, h), SKFilterQuality.High);
                File.WriteAllBytes(path, MLNetClassify.Tests.Images.TestPictures.Encode(resized, format, 92));
                photos.Add(path);
            }
        }
        return photos;
    }
}

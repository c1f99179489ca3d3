using System.Globalization;
using Microsoft.ML;
using MLNetClassify.Backbones;
using MLNetClassify.Featurization;
using SkiaSharp;

namespace MLNetClassify.Tests.Featurization;

/// <summary>
/// One fixed image, its 512 ResNet18 features in float32 (weights and arithmetic), against a vector committed in
/// golden-resnet18-float32.txt. Any change to what reaches the backbone (decoding, resize, channel order, mean image,
/// scale) or to the graph moves the features far more than 1e-6 and fails here.
/// </summary>
public class GoldenFeatureTests
{
    private const string GoldenFile = "golden-resnet18-float32.txt";
    private const string RewriteVariable = "MLNC_WRITE_GOLDEN";

    /// <summary>
    /// Element tolerance: |ours − golden| ≤ 1e-6 · max(1, |golden|), i.e. absolute below 1 and relative above (the
    /// features run 0–~10). On the 2-core AMD EPYC development machine, 2026-12-04, three runs each at batch 1 and 4 with
    /// one and two inference threads gave bit-equal vectors (largest difference 0). ONNX Runtime may pick other kernels
    /// on another CPU (AVX2 against AVX-512), which can move features by about 1e-6 relative: regenerate there if so.
    /// </summary>
    private const double Tolerance = 1e-6;

    /// <summary>224×224 so that the resize step is the identity: the pixels are the formula's on any machine.</summary>
    internal static byte[] FixedPng()
    {
        const int side = 224;
        using var bitmap = new SKBitmap(side, side, SKColorType.Rgba8888, SKAlphaType.Opaque);
        for (int y = 0; y < side; y++)
            for (int x = 0; x < side; x++)
            {
                bool disc = (x - 150) * (x - 150) + (y - 80) * (y - 80) < 40 * 40;
                bool bar = x > 30 && x < 90 && y > 120 && y < 200;
                var c = disc ? new SKColor(220, 40, 30)
                    : bar ? new SKColor(20, 60, (byte)(120 + (y % 16) * 8))
                    : new SKColor((byte)(x * 255 / (side - 1)), (byte)(y * 255 / (side - 1)), (byte)((x ^ y) & 0xFF));
                bitmap.SetPixel(x, y, c);
            }
        using var image = SKImage.FromBitmap(bitmap);
        using var data = image.Encode(SKEncodedImageFormat.Png, 100); // lossless: the decoded pixels are the formula's
        return data.ToArray();
    }

    private static string WriteFixedImage()
    {
        var path = Path.Combine(TestPaths.NewTempDirectory(), "golden.png");
        File.WriteAllBytes(path, FixedPng());
        return path;
    }

    private static BackboneSpec Float32 => BackboneCatalog.ResNet18 with { Weights = WeightStorage.Float32, Precision = ComputePrecision.Float32 };

    private static float[] Featurize(string path, FeaturizerOptions options, int copies = 1)
    {
        using var featurizer = new MLContext(1).ImageClassification().CreateFeaturizer(Float32, options);
        var result = featurizer.Featurize(Enumerable.Repeat(path, copies).ToList());
        Assert.Equal(copies, result.Features.Rows);
        return result.Features.Row(copies - 1).ToArray();
    }

    private static string GoldenPath => Path.Combine(TestPaths.RepoRoot, "tests", "MLNetClassify.Tests", "Featurization", GoldenFile);

    private static float[] ReadGolden() =>
        File.ReadLines(GoldenPath).Where(l => l.Length > 0 && l[0] != '#').Select(l => float.Parse(l, CultureInfo.InvariantCulture)).ToArray();

    private static double WorstScaledDifference(float[] actual, float[] expected) =>
        actual.Zip(expected, (a, e) => Math.Abs((double)a - e) / Math.Max(1, Math.Abs((double)e))).Max();

    [Fact]
    public void FixedImage_ResNet18Float32Features_EqualTheGoldenVectorWithin1e6()
    {
        var path = WriteFixedImage();
        var features = Featurize(path, new FeaturizerOptions { BatchSize = 1 });
        if (Environment.GetEnvironmentVariable(RewriteVariable) == "1")
        {
            File.WriteAllLines(GoldenPath, [
                "# ResNet18 (resnet18-cntk, float32 weights and arithmetic) features of GoldenFeatureTests.FixedPng(), 512 values.",
                $"# Written by GoldenFeatureTests with {RewriteVariable}=1 (dotnet test --filter GoldenFeatureTests), ONNX Runtime CPU,",
                "# 2-core AMD EPYC development machine, 2026-12-04. Checked element by element to 1e-6 · max(1, |value|).",
                .. features.Select(f => f.ToString("R", CultureInfo.InvariantCulture))]);
            Assert.Fail($"{GoldenPath} rewritten; rerun without {RewriteVariable}.");
        }
        var golden = ReadGolden();
        Assert.Equal(512, golden.Length);
        Assert.Equal(golden.Length, features.Length);
        double worst = WorstScaledDifference(features, golden);
        int first = Enumerable.Range(0, golden.Length).FirstOrDefault(i => Math.Abs((double)features[i] - golden[i]) > Tolerance * Math.Max(1, Math.Abs((double)golden[i])), -1);
        Assert.True(first < 0, $"feature {first}: {features[Math.Max(first, 0)]:R} against golden {golden[Math.Max(first, 0)]:R}; worst scaled difference {worst:E2}");
    }

    [Fact]
    public void FixedImage_RunsAndThreadCounts_GiveTheSameVector()
    {
        // The spread the golden tolerance has to cover on one machine: three runs each at batch 1 (one worker per core)
        // and batch 4 with one and with two inference threads (the decode-then-infer pipeline).
        var path = WriteFixedImage();
        var reference = Featurize(path, new FeaturizerOptions { BatchSize = 1 });
        double worst = 0;
        foreach (var options in new[] { new FeaturizerOptions { BatchSize = 1 }, new FeaturizerOptions { BatchSize = 4, InferenceThreads = 1 }, new FeaturizerOptions { BatchSize = 4, InferenceThreads = 2 } })
            for (int run = 0; run < 3; run++)
                worst = Math.Max(worst, WorstScaledDifference(Featurize(path, options, copies: options.BatchSize), reference));
        Console.WriteLine($"golden image, 3 runs × (batch 1; batch 4 × 1 and 2 inference threads): largest scaled difference {worst:E2}");
        Assert.True(worst <= Tolerance, $"largest scaled difference across runs {worst:E2}");
    }
}

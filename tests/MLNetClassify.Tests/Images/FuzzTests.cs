using System.Diagnostics;
using Microsoft.ML;
using MLNetClassify.Backbones;
using MLNetClassify.Featurization;
using MLNetClassify.Images;
using SkiaSharp;

namespace MLNetClassify.Tests.Images;

/// <summary>Damaged files of every kind an upload can be: never a crash, a hang or a nameless failure.</summary>
public class FuzzTests
{
    /// <summary>One random mutation: bits flipped, the file cut short, bytes inserted, or a span overwritten.</summary>
    private static byte[] Mutate(byte[] original, Random random)
    {
        var bytes = original.ToList();
        switch (random.Next(4))
        {
            case 0:
                for (int n = random.Next(1, 17); n > 0; n--)
                {
                    int at = random.Next(bytes.Count);
                    bytes[at] ^= (byte)(1 << random.Next(8));
                }
                break;
            case 1:
                return original[..random.Next(original.Length)];
            case 2:
                var inserted = new byte[random.Next(1, 65)];
                random.NextBytes(inserted);
                bytes.InsertRange(random.Next(bytes.Count + 1), inserted);
                break;
            default:
                int start = random.Next(bytes.Count), length = Math.Min(random.Next(1, 33), bytes.Count - start);
                var noise = new byte[length];
                random.NextBytes(noise);
                for (int i = 0; i < length; i++) bytes[start + i] = noise[i];
                break;
        }
        return bytes.ToArray();
    }

    [Fact]
    public void ThousandMutations_OfJpegPngAndWebp_DecodeAndFeaturize_WithoutCrashOrHang_EachFailureANamedSkip()
    {
        var dir = TestPaths.NewTempDirectory();
        using var picture = TestPictures.Marked(96, 72);
        (byte[] Bytes, string Extension)[] originals =
        [
            (TestPictures.Encode(picture, SKEncodedImageFormat.Jpeg, 90), "jpg"),
            (TestPictures.Encode(picture, SKEncodedImageFormat.Png), "png"),
            (TestPictures.Encode(picture, SKEncodedImageFormat.Webp, 80), "webp"),
        ];
        var random = new Random(20261129);
        var files = Enumerable.Range(0, 1000).Select(i =>
        {
            var (bytes, extension) = originals[i % 3];
            var file = Path.Combine(dir, $"{i:D4}.{extension}");
            File.WriteAllBytes(file, Mutate(bytes, random));
            return file;
        }).ToList();

        // Each file alone through the decoder: an image or a reason, within a bounded time.
        var problems = new Dictionary<string, string>();
        var slowest = TimeSpan.Zero;
        foreach (var file in files)
        {
            var clock = Stopwatch.StartNew();
            var decoded = ImageDecoder.Decode(file, 64);
            slowest = clock.Elapsed > slowest ? clock.Elapsed : slowest;
            Assert.True(decoded.Image is null != decoded.Problem is null, $"{file}: an image and a problem, or neither");
            decoded.Image?.Dispose();
            if (decoded.Problem is { } problem) problems[file] = problem;
        }
        Assert.True(slowest < TimeSpan.FromSeconds(2), $"slowest decode {slowest.TotalMilliseconds:F0} ms");
        Assert.All(problems.Values, p => Assert.DoesNotContain("Exception", p));
        // The fuzz does damage: some files are refused, and some still decode.
        Assert.InRange(problems.Count, 100, 900);

        // All of them through the batched featurizer: each file a row or a named skip, the same ones the decoder refused.
        using var featurizer = new ImageFeaturizer(new MLContext(1), BackboneCatalog.ResNet18AtSize(64), new FeaturizerOptions());
        var result = featurizer.Featurize(files.Select(ImageSource.FromFile).ToList());
        Assert.Equal(files.Count, result.Features.Rows + result.Skipped.Count);
        Assert.Equal(problems.Keys.Order(), result.Skipped.Select(s => s.Source).Order());
        Assert.All(result.Skipped, s => Assert.Equal(problems[s.Source], s.Reason));
        Assert.True(result.Features.Values.ToArray().All(float.IsFinite));
    }
}

using Microsoft.ML;
using Microsoft.ML.OnnxRuntime;
using MLNetClassify.Backbones;
using MLNetClassify.Featurization;
using MLNetClassify.Images;

namespace MLNetClassify.Tests.Featurization;

/// <summary>Augmented views and rich pooling: what the accuracy options rest on.</summary>
public class AugmentationTests
{
    [Fact]
    public void PlaneView_FlipTwice_GivesTheImageBack_AndIdentityCopies()
    {
        var rng = new Random(3);
        int size = 9;
        var planes = Enumerable.Range(0, 3 * size * size).Select(_ => (float)rng.Next(256)).ToArray();
        var once = new float[planes.Length];
        var twice = new float[planes.Length];
        PlaneView.Flipped.Apply(planes, once, size);
        PlaneView.Flipped.Apply(once, twice, size);
        Assert.Equal(planes, twice);
        Assert.Equal(planes[1 * size * size + 2 * size + 0], once[1 * size * size + 2 * size + size - 1]);
        PlaneView.Identity.Apply(planes, once, size);
        Assert.Equal(planes, once);
    }

    [Fact]
    public void PlaneView_Random_IsTheSameForTheSameSeedKeyAndView_AndStaysInItsLimits()
    {
        Assert.Equal(PlaneView.Random(5, 42, 2), PlaneView.Random(5, 42, 2));
        Assert.NotEqual(PlaneView.Random(5, 42, 2), PlaneView.Random(6, 42, 2));
        Assert.NotEqual(PlaneView.Random(5, 42, 2), PlaneView.Random(5, 43, 2));
        Assert.NotEqual(PlaneView.Random(5, 42, 2), PlaneView.Random(5, 42, 3));
        for (int k = 0; k < 1000; k++)
        {
            var v = PlaneView.Random(1, (ulong)k, 2);
            Assert.InRange(v.Width * v.Height, PlaneView.MinArea * 0.999f, 1f);
            Assert.InRange(v.X + v.Width, 0f, 1.0001f);
            Assert.InRange(v.Y + v.Height, 0f, 1.0001f);
            Assert.InRange(v.Brightness, 1 - PlaneView.Jitter, 1 + PlaneView.Jitter);
            Assert.InRange(v.Contrast, 1 - PlaneView.Jitter, 1 + PlaneView.Jitter);
        }
    }

    [Fact]
    public void FeaturizeView_IsDeterministicForASeed_IndependentOfListOrder_AndCachedApart()
    {
        var dir = TestPaths.NewTempDirectory();
        var paths = TestImages.LogoFolder(dir, 2, seed: 8, size: 120).Select(i => i.ImagePath).ToList();
        var sources = paths.Select(ImageSource.FromFile).ToList();
        var ml = new MLContext(1);
        var cache = Path.Combine(dir, "cache");
        using var featurizer = new ImageFeaturizer(ml, BackboneCatalog.ResNet18, new FeaturizerOptions { CacheDirectory = cache });
        var plain = featurizer.Featurize(sources).Features;
        var a = featurizer.FeaturizeView(sources, 2, seed: 5).Features;
        var reversed = featurizer.FeaturizeView(sources.AsEnumerable().Reverse().ToList(), 2, seed: 5);
        var otherSeed = featurizer.FeaturizeView(sources, 2, seed: 6).Features;
        var flip = featurizer.FeaturizeView(sources, 1, seed: 5).Features;
        for (int i = 0; i < paths.Count; i++)
        {
            Assert.Equal(a.Row(i).ToArray(), reversed.Features.Row(paths.Count - 1 - i).ToArray());
            Assert.NotEqual(a.Row(i).ToArray(), otherSeed.Row(i).ToArray());
            Assert.NotEqual(plain.Row(i).ToArray(), a.Row(i).ToArray());
            Assert.NotEqual(plain.Row(i).ToArray(), flip.Row(i).ToArray());
        }
        Assert.Equal(paths.Count, reversed.CacheHits); // the second call read the view's own cache entries

        // Without a cache, the same values: the cache holds what was computed.
        using var uncached = new ImageFeaturizer(ml, BackboneCatalog.ResNet18);
        Assert.Equal(a.Values, uncached.FeaturizeView(sources, 2, seed: 5).Features.Values);
        Assert.Equal(flip.Values, uncached.FeaturizeView(sources, 1, seed: 0).Features.Values);
    }

    [Fact]
    public void RichPooling_OneGraph_EqualsSeparateRunsOfEachPooledOutput()
    {
        var dir = TestPaths.NewTempDirectory();
        var sources = TestImages.LogoFolder(dir, 2, seed: 9, size: 150).Select(i => ImageSource.FromFile(i.ImagePath)).ToList();
        var ml = new MLContext(1);
        var spec = BackboneCatalog.ResNet18 with { Weights = WeightStorage.Float32 };
        using var rich = new ImageFeaturizer(ml, spec with { Pooling = FeaturePooling.Rich });
        using var average = new ImageFeaturizer(ml, spec);
        var richFeatures = rich.Featurize(sources).Features;
        var averageFeatures = average.Featurize(sources).Features;
        Assert.Equal(512 + 256, rich.Dimensions);
        float scale = FeaturizerGraph.MidScale(spec);
        Assert.InRange(scale, 1.2f, 2.5f); // ResNet18's mid-level averages are about half the last map's
        Assert.Equal(scale, MathF.Round(scale, 1));
        Assert.Equal(rich.Dimensions, richFeatures.Dimensions);

        // Separate runs: the average graph; the mid-level map cut out as a graph of its own (average over positions taken
        // here, times the scale).
        var midSpec = spec with { FeatureMapNode = "ReLU347_Output_0", Channels = 256 };
        var midMap = FeaturizerGraph.BuildFeatureMap(midSpec);
        using var pixels = new PixelReaders(ml, 224);
        using var midSession = new InferenceSession(midMap);
        for (int i = 0; i < sources.Count; i++)
        {
            var planes = new float[3 * 224 * 224];
            Assert.Null(pixels.TryRead(sources[i], planes));
            var mid = Pool(midSession, planes).Select(v => v * scale);
            var expected = averageFeatures.Row(i).ToArray().Concat(mid).ToArray();
            Assert.True(ImageFeaturizerTests.RelativeL2(richFeatures.Row(i), expected) < 1e-5,
                $"image {i}: relative L2 {ImageFeaturizerTests.RelativeL2(richFeatures.Row(i), expected):E2}");
        }
    }

    private static float[] Pool(InferenceSession session, float[] planes)
    {
        using var input = OrtValue.CreateTensorValueFromMemory(planes, [1, 3, 224, 224]);
        using var runOptions = new RunOptions();
        using var output = session.Run(runOptions, [FeaturizerGraph.InputName], [input], [FeaturizerGraph.FeatureMapName]);
        var shape = output[0].GetTensorTypeAndShape().Shape;
        int c = (int)shape[1], positions = (int)(shape[2] * shape[3]);
        var values = output[0].GetTensorDataAsSpan<float>();
        var pooled = new float[c];
        for (int k = 0; k < c; k++)
        {
            float s = 0;
            foreach (var v in values.Slice(k * positions, positions)) s += v;
            pooled[k] = s / positions;
        }
        return pooled;
    }

    [Fact]
    public void TwoScales_OneGraph_EqualsTheAverageAtTwiceTheSize_AndAtTheSizeOfItsBoxAveragedHalf()
    {
        var dir = TestPaths.NewTempDirectory();
        var sources = TestImages.LogoFolder(dir, 1, seed: 12, size: 300).Select(i => ImageSource.FromFile(i.ImagePath)).ToList();
        var ml = new MLContext(1);
        var spec = BackboneCatalog.ResNet18 with { Weights = WeightStorage.Float32 };
        var two = spec with { Pooling = FeaturePooling.TwoScales };
        Assert.Equal(448, two.ResizeSize);
        using var twoScales = new ImageFeaturizer(ml, two);
        using var large = new ImageFeaturizer(ml, BackboneCatalog.ResNet18AtSize(448) with { Weights = WeightStorage.Float32 });
        var both = twoScales.Featurize(sources).Features;
        var atLarge = large.Featurize(sources).Features;
        Assert.Equal(1024, both.Dimensions);

        using var pixels = new PixelReaders(ml, 448);
        using var smallSession = new InferenceSession(FeaturizerGraph.Build(spec));
        for (int i = 0; i < sources.Count; i++)
        {
            var planes = new float[3 * 448 * 448];
            Assert.Null(pixels.TryRead(sources[i], planes));
            var half = new float[3 * 224 * 224];
            for (int c = 0; c < 3; c++)
                for (int y = 0; y < 224; y++)
                    for (int x = 0; x < 224; x++)
                    {
                        int p = c * 448 * 448 + 2 * y * 448 + 2 * x;
                        half[c * 224 * 224 + y * 224 + x] = (planes[p] + planes[p + 1] + planes[p + 448] + planes[p + 449]) / 4;
                    }
            using var input = OrtValue.CreateTensorValueFromMemory(half, [1, 3, 224, 224]);
            using var runOptions = new RunOptions();
            using var output = smallSession.Run(runOptions, [FeaturizerGraph.InputName], [input], [FeaturizerGraph.OutputName]);
            var expected = output[0].GetTensorDataAsSpan<float>().ToArray().Concat(atLarge.Row(i).ToArray()).ToArray();
            Assert.True(ImageFeaturizerTests.RelativeL2(both.Row(i), expected) < 1e-5,
                $"image {i}: relative L2 {ImageFeaturizerTests.RelativeL2(both.Row(i), expected):E2}");
        }
        // The backbone's weights are stored once: the two-scale graph is barely larger than one scale's.
        long twoBytes = FeaturizerGraph.Build(two with { Weights = WeightStorage.Float16 }).Length, oneBytes = FeaturizerGraph.Build(BackboneCatalog.ResNet18).Length;
        Assert.True(twoBytes < 1.1 * oneBytes, $"two scales {twoBytes} bytes, one {oneBytes}");
    }
}

using Microsoft.ML;
using MLNetClassify.Learning;
using MLNetClassify.Backbones;
using MLNetClassify.Data;
using MLNetClassify.Heads;
using MLNetClassify.Images;
using MLNetClassify.Featurization;
using MLNetClassify.Tuning;
using Xunit.Abstractions;

namespace MLNetClassify.Tests.Tuning;

public class StageFineTunerTests(ITestOutputHelper output)
{
    private static (StageFineTuner Tuner, IReadOnlyList<LabeledImage> Images, string Cache) Setup(int perClass)
    {
        var dir = TestPaths.NewTempDirectory();
        var images = TestImages.LogoFolder(Path.Combine(dir, "images"), perClass, seed: 17, size: 160);
        return (StageFineTuner.ResNet18(FeaturizerGraph.Build(BackboneCatalog.ResNet18)), images, Path.Combine(dir, "cache"));
    }

    [Fact]
    public void Featurize_StageMaps_CachedAsFloat16_SecondRunReadsThemBack()
    {
        var (tuner, images, cache) = Setup(3);
        var sources = images.Select(i => ImageSource.FromFile(i.ImagePath)).ToList();
        var options = new FeaturizerOptions { CacheDirectory = cache };
        var first = tuner.Featurize(new MLContext(1), BackboneCatalog.ResNet18, sources, augmentedViews: 1, seed: 1, options);
        Assert.Equal((images.Count, 2, 0), (first.Images, first.Views, first.CacheHits));
        // 256×14×14 float16 values after an 80-byte header: 98 KiB an image and view.
        var entries = Directory.GetFiles(cache, "*.f16", SearchOption.AllDirectories);
        Assert.Equal(2 * images.Count, entries.Length);
        Assert.All(entries, e => Assert.Equal(80 + 2 * 256 * 14 * 14, new FileInfo(e).Length));

        var second = tuner.Featurize(new MLContext(1), BackboneCatalog.ResNet18, sources, augmentedViews: 1, seed: 1, options);
        Assert.Equal(2 * images.Count, second.CacheHits);
        var a = new float[first.Values];
        var b = new float[first.Values];
        for (int row = 0; row < first.Rows; row++)
        {
            first.Read(row, a);
            second.Read(row, b);
            Assert.Equal(a, b);
        }
        // The flipped view is another map.
        first.Read(images.Count, b);
        Assert.NotEqual(a, b);
    }

    [Fact]
    public void Tune_GeneratedImages_TwoEpochs_ValidationLossFallsBelowTheHeadOnlyStart()
    {
        var (tuner, images, _) = Setup(16);
        var labelNames = images.Select(i => i.Label).Distinct().Order().ToList();
        var labels = images.Select(i => labelNames.IndexOf(i.Label)).ToArray();
        var maps = tuner.Featurize(new MLContext(1), BackboneCatalog.ResNet18, images.Select(i => ImageSource.FromFile(i.ImagePath)).ToList(), augmentedViews: 1, seed: 1);
        var reported = new List<StageEpochProgress>();
        var options = new StageFineTuningOptions { ValidationFraction = 0.25f, Training = new() { Epochs = 2, BatchSize = 8, HeadLearningRate = 1e-3f, ConvLearningRate = 3e-4f } };
        var result = tuner.Tune(maps, labels,
            (features, rowLabels, views) => new SoftmaxHeadTrainer(new SoftmaxHeadOptions { Epochs = 30 }).Train(features, rowLabels, labelNames.Count, views: views).Model,
            options, new SyncProgress<StageEpochProgress>(reported.Add));
        foreach (var e in reported)
            output.WriteLine($"epoch {e.Metrics.Epoch}: train loss {e.Metrics.TrainLoss:F4}, validation loss {e.Metrics.ValidationLoss:F4}, accuracy {e.Metrics.ValidationAccuracy:P0}, {e.Elapsed.TotalSeconds:F1} s");
        Assert.Equal(3, reported.Count);
        Assert.Equal(result.History, reported);
        Assert.True(reported[2].Metrics.ValidationLoss < reported[0].Metrics.ValidationLoss, "fine-tuning should lower the validation loss");
        Assert.Equal(2, result.BestEpoch);
        // The best epoch's weights came back: the stage is tuned, the head is the tuned one.
        var start = tuner.Stage.Graph.Initializer.First(t => result.StageParameters.ContainsKey(t.Name));
        Assert.NotEqual(MLNetClassify.Onnx.OnnxBuild.ReadFloats(start), result.StageParameters[start.Name]);
    }

    [Fact]
    public void Tune_EpochView_FetchedOncePerEpoch_AWrongSizedOneSaysWhy()
    {
        var (tuner, images, _) = Setup(4);
        var labels = images.Select(i => i.Label == images[0].Label ? 0 : 1).ToArray();
        var sources = images.Select(i => ImageSource.FromFile(i.ImagePath)).ToList();
        var maps = tuner.Featurize(new MLContext(1), BackboneCatalog.ResNet18, sources, 0, 1);
        var head = new MLNetClassify.Learning.SoftmaxLayer(new float[2 * 512], new float[2], 512);
        var options = new StageFineTuningOptions { EarlyStoppingPatience = 5, Training = new() { Epochs = 2, BatchSize = 4 } };
        var fetched = new List<int>();
        var result = tuner.Tune(maps, labels, [0, 1, 2, 3, 4, 5], [6, 7], head, options, epochView: (epoch, token) =>
        {
            fetched.Add(epoch);
            var view = tuner.FeaturizeView(new MLContext(1), BackboneCatalog.ResNet18, sources, 1 + epoch, 1, cancellationToken: token);
            Assert.Equal((maps.Images, 1), (view.Images, view.Views));
            return view;
        });
        Assert.Equal([1, 2], fetched);
        Assert.Equal(3, result.History.Count);

        var e = Assert.Throws<ArgumentException>(() => tuner.Tune(maps, labels, [0, 1, 2, 3, 4, 5], [6, 7], head, options,
            epochView: (_, _) => tuner.FeaturizeView(new MLContext(1), BackboneCatalog.ResNet18, sources.Take(3).ToList(), 2, 1)));
        Assert.Contains("one view of the 8 images was expected", e.Message);
    }

    [Fact]
    public void ResNet18_GraphAtAnotherSize_SaysWhy()
    {
        var e = Assert.Throws<ArgumentException>(() => StageFineTuner.ResNet18(FeaturizerGraph.Build(BackboneCatalog.ResNet18AtSize(160))));
        Assert.Contains("at 160 pixels", e.Message);
    }

    [Fact]
    public void Tune_Cancelled_Throws()
    {
        var (tuner, images, _) = Setup(4);
        var labels = images.Select(i => i.Label == images[0].Label ? 0 : 1).ToArray();
        var maps = tuner.Featurize(new MLContext(1), BackboneCatalog.ResNet18, images.Select(i => ImageSource.FromFile(i.ImagePath)).ToList(), 0, 1);
        using var cancel = new CancellationTokenSource();
        cancel.Cancel();
        var head = new MLNetClassify.Learning.SoftmaxLayer(new float[2 * 512], new float[2], 512);
        Assert.ThrowsAny<OperationCanceledException>(() => tuner.Tune(maps, labels, [0, 1, 2, 3, 4, 5], [6, 7], head, cancellationToken: cancel.Token));
    }
}

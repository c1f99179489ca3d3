using Google.Protobuf;
using Microsoft.ML;
using MLNetClassify.Backbones;
using MLNetClassify.Data;
using MLNetClassify.Featurization;
using MLNetClassify.Images;
using MLNetClassify.Learning;
using MLNetClassify.Numerics;
using MLNetClassify.Tuning;
using Onnx;
using Xunit.Abstractions;

namespace MLNetClassify.Tests.Tuning;

public class StageGraphsTests(ITestOutputHelper output)
{
    private static readonly BackboneSpec Spec = BackboneCatalog.ResNet18;

    private static FeatureMatrix Features(byte[] graph, IReadOnlyList<string> paths)
    {
        using var featurizer = new ImageFeaturizer(new MLContext(1), Spec, graph, new FeaturizerOptions());
        var result = featurizer.Featurize(paths);
        Assert.Equal(paths.Count, result.Features.Rows);
        return result.Features;
    }

    private static IReadOnlyList<string> Generated(int perClass, int seed) =>
        TestImages.LogoFolder(TestPaths.NewTempDirectory(), perClass, seed, size: 160).Select(i => i.ImagePath).ToList();

    private static IReadOnlyList<string> Photos()
    {
        var data = TestPaths.RequireSharedData("intel-scenes");
        return ImageDataset.FromFolder(data).GroupBy(i => i.Label).SelectMany(g => g.Take(1)).Select(i => i.ImagePath).ToList();
    }

    private void AssertUntunedStageKeepsFeatures(IReadOnlyList<string> paths)
    {
        var original = FeaturizerGraph.Build(Spec);
        var tuner = StageFineTuner.ResNet18(original);
        var replaced = StageGraphs.WithStage(original, tuner.Stage);
        var before = ModelProto.Parser.ParseFrom(original).Graph;
        var after = ModelProto.Parser.ParseFrom(replaced).Graph;
        // The stage's BatchNormalizations are folded away: the graph really changed, its contract did not.
        Assert.True(after.Node.Count(n => n.OpType == "BatchNormalization") < before.Node.Count(n => n.OpType == "BatchNormalization"));
        Assert.Equal(before.Input.Select(i => i.ToString()), after.Input.Select(i => i.ToString()));
        Assert.Equal(before.Output.Select(o => o.ToString()), after.Output.Select(o => o.ToString()));
        Assert.Equal(before.Name, after.Name);

        var a = Features(original, paths);
        var b = Features(replaced, paths);
        double worst = Enumerable.Range(0, a.Rows).Max(i => Kernels.RelativeL2Difference(b.Row(i), a.Row(i)));
        output.WriteLine($"{paths.Count} images: largest relative L2 difference of the features {worst:E2}");
        Assert.True(worst < 1e-4, $"relative difference {worst:E2}");
    }

    [Fact]
    public void WithStage_FoldedUntunedStage_GivesTheOriginalFeatures_GeneratedImages() => AssertUntunedStageKeepsFeatures(Generated(3, 5));

    [SkippableFact]
    public void WithStage_FoldedUntunedStage_GivesTheOriginalFeatures_Photos() => AssertUntunedStageKeepsFeatures(Photos());

    [Fact]
    public void FeaturizerWith_TunedStage_FeaturesThroughHeadEqualTheTrainersForward()
    {
        var paths = Generated(3, 9);
        var original = FeaturizerGraph.Build(Spec);
        var tuner = StageFineTuner.ResNet18(original);
        // Tuned weights: the stage's own, each moved by a few per cent at random, and a random head over 3 classes.
        var rng = new Random(3);
        var values = tuner.Stage.Graph.Initializer.ToDictionary(t => t.Name,
            t => MLNetClassify.Onnx.OnnxBuild.ReadFloats(t).Select(v => v * (1 + 0.05f * (float)(rng.NextDouble() * 2 - 1))).ToArray());
        const int classes = 3;
        var head = new SoftmaxLayer(Enumerable.Range(0, classes * 512).Select(_ => (float)(rng.NextDouble() * 2 - 1) * 0.2f).ToArray(), [0.1f, -0.2f, 0.05f], 512);
        var result = new StageFineTuningResult(values, head, 1, []);

        var tunedFeatures = Features(tuner.FeaturizerWith(result), paths);
        var untunedFeatures = Features(original, paths);
        Assert.True(Kernels.RelativeL2Difference(tunedFeatures.Row(0), untunedFeatures.Row(0)) > 1e-3, "the tuned weights must change the features");

        // The trainer's forward on the exact (float32) stage-3 maps of the same images.
        var maps = Features(StageGraphs.CutAt(original, BackboneTails.ResNet18Stage3, [256, 14, 14]), paths);
        var logits = tuner.Logits(result, (row, destination) => maps.Row(row).CopyTo(destination), paths.Count);
        double worst = 0;
        for (int i = 0; i < paths.Count; i++)
        {
            var fromGraph = head.Predict(tunedFeatures.Row(i));
            var fromTrainer = new float[classes];
            Kernels.Softmax(logits.AsSpan(i * classes, classes), fromTrainer);
            for (int k = 0; k < classes; k++) worst = Math.Max(worst, Math.Abs(fromGraph[k] - fromTrainer[k]));
        }
        output.WriteLine($"largest probability difference {worst:E2}");
        Assert.True(worst <= 1e-5, $"probabilities differ by {worst:E2}");
    }

    [Fact]
    public void CutAt_UnknownTensor_SaysWhich()
    {
        var e = Assert.Throws<ArgumentException>(() => StageGraphs.CutAt(FeaturizerGraph.Build(Spec), "no_such_tensor", [1, 1, 1]));
        Assert.Contains("no_such_tensor", e.Message);
    }
}

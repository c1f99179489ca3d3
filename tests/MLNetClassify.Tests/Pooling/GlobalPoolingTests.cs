using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.Transforms;
using MLNetClassify.Backbones;
using MLNetClassify.Data;
using MLNetClassify.Onnx;
using MLNetClassify.Pooling;
using MLNetClassify.Tests.Featurization;

namespace MLNetClassify.Tests.Pooling;

[Collection(LogoModelCollection.Name)]
public class GlobalPoolingTests(LogoModelFixture fixture)
{
    [Fact]
    public void FeaturizerGraph_GlobalAverageAt224_EqualsResNet18Pooling395()
    {
        // Random RGB planes; the reference path is the package's own: BGR minus the mean image into ResNet18.onnx.
        var rng = new Random(3);
        int plane = 224 * 224;
        var rgb = Enumerable.Range(0, 3 * plane).Select(_ => (float)(rng.NextDouble() * 255)).ToArray();
        var spec = BackboneCatalog.ResNet18 with { Weights = WeightStorage.Float32 };
        var meanImage = FeaturizerGraph.ReadModel(BackboneSpec.Resolve(spec.MeanImage!.File), spec.Name).Graph.Initializer.Single(t => t.Name == "MeanImage");
        var mean = OnnxBuild.ReadFloats(meanImage);
        var bgr = new float[3 * plane];
        for (int c = 0; c < 3; c++)
            for (int i = 0; i < plane; i++)
                bgr[c * plane + i] = rgb[(2 - c) * plane + i] - mean[c * plane + i];

        using var original = new InferenceSession(spec.ResolveModelFile());
        using var ours = new InferenceSession(FeaturizerGraph.Build(spec));
        using var bgrValue = OrtValue.CreateTensorValueFromMemory(bgr, [1, 3, 224, 224]);
        using var rgbValue = OrtValue.CreateTensorValueFromMemory(rgb, [1, 3, 224, 224]);
        using var runOptions = new RunOptions();
        using var a = original.Run(runOptions, ["Input247"], [bgrValue], ["Pooling395_Output_0"]);
        using var b = ours.Run(runOptions, [FeaturizerGraph.InputName], [rgbValue], [FeaturizerGraph.OutputName]);
        var expected = a[0].GetTensorDataAsSpan<float>().ToArray();
        var actual = b[0].GetTensorDataAsSpan<float>().ToArray();
        Assert.Equal(512, actual.Length);
        Assert.True(ImageFeaturizerTests.RelativeL2(actual, expected) <= 1e-4, $"relative L2 {ImageFeaturizerTests.RelativeL2(actual, expected):E2}");

        // The default stores the weights as float16 (half the bytes) and stays close.
        using var half = new InferenceSession(FeaturizerGraph.Build(BackboneCatalog.ResNet18));
        using var halfResult = half.Run(runOptions, [FeaturizerGraph.InputName], [rgbValue], [FeaturizerGraph.OutputName]);
        var fromHalf = halfResult[0].GetTensorDataAsSpan<float>().ToArray();
        Assert.True(ImageFeaturizerTests.RelativeL2(fromHalf, expected) <= 5e-3, $"float16 storage: relative L2 {ImageFeaturizerTests.RelativeL2(fromHalf, expected):E2}");
        Assert.True(FeaturizerGraph.Build(BackboneCatalog.ResNet18).Length < 0.55 * FeaturizerGraph.Build(spec).Length);
    }

    [Theory]
    [InlineData(64, 2)]
    [InlineData(128, 4)]
    [InlineData(224, 7)]
    [InlineData(320, 10)]
    public void FeatureMapShape_FollowsInputSize(int size, int side) =>
        Assert.Equal([512, side, side], FeaturizerGraph.FeatureMapShape(BackboneCatalog.ResNet18AtSize(size)));

    [Theory]
    [InlineData(GlobalPoolingKind.Average)]
    [InlineData(GlobalPoolingKind.Max)]
    [InlineData(GlobalPoolingKind.AverageMax)]
    public void GlobalPooling_MatchesNaivePooling_AndRoundTrips(GlobalPoolingKind kind)
    {
        var ml = new MLContext(1);
        var images = ImageDataset.ToDataView(ml, fixture.Split.Test.Take(2));
        var pipeline = ml.ImageClassification().FeatureMaps("Map", backbone: BackboneCatalog.ResNet18AtSize(160))
            .Append(ml.ImageClassification().GlobalPooling("Pooled", "Map", kind));
        var model = pipeline.Fit(images);
        var scored = model.Transform(images);
        Assert.Equal(new VectorDataViewType(NumberDataViewType.Single, 1, 512, 5, 5), scored.Schema["Map"].Type);
        var maps = scored.GetColumn<float[]>("Map").ToList();
        var pooled = scored.GetColumn<float[]>("Pooled").ToList();
        for (int r = 0; r < maps.Count; r++)
        {
            var expected = new List<double>();
            if (kind != GlobalPoolingKind.Max) expected.AddRange(Enumerable.Range(0, 512).Select(c => maps[r].Skip(c * 25).Take(25).Select(v => (double)v).Average()));
            if (kind != GlobalPoolingKind.Average) expected.AddRange(Enumerable.Range(0, 512).Select(c => (double)maps[r].Skip(c * 25).Take(25).Max()));
            Assert.Equal(expected.Count, pooled[r].Length);
            for (int i = 0; i < expected.Count; i++)
                Assert.Equal(expected[i], pooled[r][i], 1e-4);
        }

        var path = Path.Combine(TestPaths.NewTempDirectory(), "gap.zip");
        ml.Model.Save(model, images.Schema, path);
        var fresh = new MLContext(2);
        var reloaded = fresh.Model.Load(path, out _).Transform(images).GetColumn<float[]>("Pooled").ToList();
        for (int r = 0; r < pooled.Count; r++)
            Assert.Equal(pooled[r], reloaded[r]);
    }

    [Fact]
    public void GlobalPooling_ThrowsForColumnsWithoutAMapShape()
    {
        var ml = new MLContext(1);
        var data = ml.Data.LoadFromEnumerable(new[] { new Flat { Values = [1f, 2f, 3f] } });
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => ml.ImageClassification().GlobalPooling("P", "Values").Fit(data));
        Assert.Contains("C×H×W", e.Message);
        Assert.Throws<ArgumentException>(() => ml.ImageClassification().GlobalPooling("Same", "Same"));
    }

    [Fact]
    public void HeadTrainedAt224_ScoresImagesResizedTo160_AfterReload()
    {
        var ml = new MLContext(1);
        var train = ImageDataset.ToDataView(ml, fixture.Split.Train.Where((_, i) => i % 2 == 0));
        var keys = ml.Transforms.Conversion.MapValueToKey("LabelKey", "Label", keyOrdinality: ValueToKeyMappingEstimator.KeyOrdinality.ByValue).Fit(train);
        var keyed = keys.Transform(train);
        var at224 = ml.ImageClassification().FeatureMaps("Map", backbone: BackboneCatalog.ResNet18AtSize(224))
            .Append(ml.ImageClassification().GlobalPooling("Features", "Map")).Fit(keyed);
        var head = ml.ImageClassification().SoftmaxHead("LabelKey", "Features", epochs: 40).Fit(at224.Transform(keyed));

        // The same head behind a 160-pixel backbone: global pooling makes the feature length independent of size.
        var at160 = ml.ImageClassification().FeatureMaps("Map", backbone: BackboneCatalog.ResNet18AtSize(160))
            .Append(ml.ImageClassification().GlobalPooling("Features", "Map")).Fit(keyed);
        var model = new TransformerChain<ITransformer>(keys, at160, head);
        var (accuracy, loaded) = ReloadCheck.SaveLoadAndCompare(ml, model, train.Schema, fixture.Split.Test, ["logo", "other"],
            image => new LabeledImage(image.ImagePath, ""));
        Assert.True(accuracy >= 0.75, $"accuracy {accuracy:F3} at 160 px");
        Assert.Equal(new VectorDataViewType(NumberDataViewType.Single, 1, 512, 5, 5), loaded.GetOutputSchema(train.Schema)["Map"].Type);
    }

    private sealed class Flat
    {
        [VectorType(3)]
        public float[] Values { get; set; } = [];
    }
}

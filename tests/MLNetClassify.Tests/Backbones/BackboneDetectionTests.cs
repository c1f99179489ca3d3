using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using MLNetClassify.Backbones;
using MLNetClassify.Numerics;
using Onnx;

namespace MLNetClassify.Tests.Backbones;

public sealed class BackboneDetectionTests
{
    public static TheoryData<string> Families => ["residual", "inception", "vgg", "keras-nhwc", "flatten-gemm"];

    private static FamilyGraphs.Family Make(string family, string dir) => family switch
    {
        "residual" => FamilyGraphs.Residual(dir),
        "inception" => FamilyGraphs.Inception(dir),
        "vgg" => FamilyGraphs.Vgg(dir),
        "keras-nhwc" => FamilyGraphs.KerasNhwc(dir),
        _ => FamilyGraphs.FlattenGemm(dir),
    };

    /// <summary>Preprocessing that hands the pixels over unchanged, so the original graph can be fed the same values.</summary>
    private static readonly BackboneSpec Identity = new()
    {
        Name = "identity-preprocessing", ModelFile = "", Channels = 0, PixelScale = 1f, Mean = Rgb.Zero, Std = Rgb.One,
    };

    [Theory]
    [MemberData(nameof(Families))]
    public void Inspect_FindsTheFeatureMap_OfEveryFamily(string family)
    {
        var f = Make(family, TestPaths.NewTempDirectory());
        var found = Backbone.Inspect(f.Path);
        Assert.Equal(f.FeatureNode, found.FeatureNode);
        Assert.Equal(f.Shape, found.FeatureShape);
        Assert.Equal(f.MapLayout, found.FeatureLayout);
        Assert.Equal(family == "keras-nhwc" ? TensorLayout.Nhwc : TensorLayout.Nchw, found.Layout);
        Assert.Equal("image", found.Input);
        Assert.Null(found.Preset);
    }

    [Theory]
    [MemberData(nameof(Families))]
    public void CutGraph_GivesTheOriginalIntermediateValues_AtAnyBatch(string family)
    {
        var f = Make(family, TestPaths.NewTempDirectory());
        var spec = Backbone.FromOnnx(f.Path, Identity);
        Assert.Equal(f.Shape[0], spec.Channels);

        const int batch = 3;
        int plane = 32 * 32;
        var rng = new Random(7);
        var pixels = Enumerable.Range(0, batch * 3 * plane).Select(_ => (float)rng.Next(256)).ToArray();

        using var cut = new InferenceSession(FeaturizerGraph.BuildFeatureMap(spec));
        using var pooled = new InferenceSession(FeaturizerGraph.Build(spec));
        using var runOptions = new RunOptions();
        using var input = OrtValue.CreateTensorValueFromMemory(pixels, [batch, 3, 32, 32]);
        using var maps = cut.Run(runOptions, [FeaturizerGraph.InputName], [input], [FeaturizerGraph.FeatureMapName]);
        using var features = pooled.Run(runOptions, [FeaturizerGraph.InputName], [input], [FeaturizerGraph.OutputName]);
        var map = maps[0].GetTensorDataAsSpan<float>().ToArray();
        var pooledValues = features[0].GetTensorDataAsSpan<float>().ToArray();
        int c = f.Shape[0], hw = f.Shape[1] * f.Shape[2];
        Assert.Equal(batch * c * hw, map.Length);

        for (int b = 0; b < batch; b++)
        {
            var expected = OriginalMap(f, pixels.AsSpan(b * 3 * plane, 3 * plane).ToArray()); // C×H×W
            var actual = map.AsSpan(b * c * hw, c * hw);
            Assert.True(Kernels.RelativeL2Difference(actual, expected) <= 1e-5, $"{family} row {b}: relative L2 {Kernels.RelativeL2Difference(actual, expected):E2}");
            var means = Enumerable.Range(0, c).Select(k => expected.AsSpan(k * hw, hw).ToArray().Average()).ToArray();
            Assert.True(Kernels.RelativeL2Difference(pooledValues.AsSpan(b * c, c), means) <= 1e-5);
        }
    }

    [Fact]
    public void CentreCrop_FeedsTheMiddleOfTheResizedImage()
    {
        // Crop fraction 0.8: the image is resized to 40×40 and the graph cuts out the centre 32×32 (offset 4).
        var f = FamilyGraphs.Residual(TestPaths.NewTempDirectory());
        var spec = Backbone.FromOnnx(f.Path, Identity with { CropFraction = 0.8f });
        Assert.Equal(40, spec.ResizeSize);
        var rng = new Random(9);
        var pixels = Enumerable.Range(0, 3 * 40 * 40).Select(_ => (float)rng.Next(256)).ToArray();
        var centre = new float[3 * 32 * 32];
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < 32; y++)
                pixels.AsSpan(c * 1600 + (y + 4) * 40 + 4, 32).CopyTo(centre.AsSpan(c * 1024 + y * 32, 32));

        using var cut = new InferenceSession(FeaturizerGraph.BuildFeatureMap(spec));
        using var runOptions = new RunOptions();
        using var input = OrtValue.CreateTensorValueFromMemory(pixels, [1, 3, 40, 40]);
        using var maps = cut.Run(runOptions, [FeaturizerGraph.InputName], [input], [FeaturizerGraph.FeatureMapName]);
        var expected = OriginalMap(f, centre);
        Assert.True(Kernels.RelativeL2Difference(maps[0].GetTensorDataAsSpan<float>(), expected) <= 1e-5);
    }

    [Fact]
    public void Inspect_TwoPooledBranches_FailsListingCandidatesAndHowToChoose()
    {
        var f = FamilyGraphs.TwoPooledBranches(TestPaths.NewTempDirectory());
        var e = Assert.Throws<InvalidDataException>(() => Backbone.Inspect(f.Path));
        Assert.Contains("Concat", e.Message);
        Assert.Contains("branch_a [1x4x32x32]", e.Message);
        Assert.Contains("branch_b", e.Message);
        Assert.Contains("featureNode", e.Message);
        // Naming a node settles it.
        Assert.Equal("branch_b", Backbone.Inspect(f.Path, featureNode: "branch_b").FeatureNode);
    }

    public static TheoryData<string> Presets()
    {
        var data = new TheoryData<string>();
        foreach (var preset in BackboneCatalog.All) data.Add(preset.Name);
        return data;
    }

    [SkippableTheory]
    [MemberData(nameof(Presets))]
    public void Preset_WithItsFile_GivesTheRecordedFeatureMap(string name)
    {
        var preset = BackboneCatalog.Get(name);
        Skip.IfNot(File.Exists(preset.ResolveModelFile()), $"{preset.ModelFile} is not here (bring it: {preset.Source}); checked on a graph of its shape instead.");
        var spec = preset.FeatureMapNode is null ? BackboneCatalog.FromOnnx(preset.ResolveModelFile(), preset) : preset;
        Assert.Equal([preset.Channels, preset.FeatureMapSide!.Value, preset.FeatureMapSide.Value], FeaturizerGraph.FeatureMapShape(spec));
    }

    [Theory]
    [MemberData(nameof(Presets))]
    public void Preset_OnAGraphOfItsShape_KeepsItsPreprocessing_AndGivesTheRecordedFeatureMap(string name)
    {
        var preset = BackboneCatalog.Get(name);
        var f = FamilyGraphs.PresetShaped(TestPaths.NewTempDirectory(), preset);
        var spec = BackboneCatalog.FromOnnx(f.Path, preset);
        Assert.Equal(f.FeatureNode, spec.FeatureMapNode);
        Assert.Equal(preset.InputNode ?? "image", spec.InputNode);
        Assert.Equal((preset.Channels, preset.FeatureMapSide), (spec.Channels, spec.FeatureMapSide));
        Assert.Equal((preset.InputSize, preset.CropFraction, preset.Order, preset.PixelScale, preset.Mean, preset.Std),
            (spec.InputSize, spec.CropFraction, spec.Order, spec.PixelScale, spec.Mean, spec.Std));
        Assert.Equal(f.Shape, FeaturizerGraph.FeatureMapShape(spec));
    }

    [Fact]
    public void FeaturizerGraphCache_HoldsAFewGraphs_AndRebuildsAnEvictedOneIdentically()
    {
        var dir = TestPaths.NewTempDirectory();
        var specs = BackboneCatalog.All.Skip(1).Take(FeaturizerGraph.CachedGraphs + 2)
            .Select(p => BackboneCatalog.FromOnnx(FamilyGraphs.PresetShaped(dir, p).Path, p)).ToList();
        var first = FeaturizerGraph.Build(specs[0]);
        foreach (var spec in specs.Skip(1))
        {
            FeaturizerGraph.Build(spec);
            Assert.InRange(FeaturizerGraph.CachedGraphCount, 1, FeaturizerGraph.CachedGraphs);
        }
        Assert.Equal(first, FeaturizerGraph.Build(specs[0])); // evicted by now, built again the same
    }

    [Fact]
    public void Inspect_EmbeddedResNet18_FindsItsLastReLU()
    {
        var found = Backbone.Inspect(BackboneCatalog.ResNet18.ResolveModelFile());
        Assert.Equal(BackboneCatalog.ResNet18.FeatureMapNode, found.FeatureNode);
        Assert.Equal([512, 7, 7], found.FeatureShape);
        Assert.Equal("Input247", found.Input);
    }

    /// <summary>The original graph's feature map for one image (pixels handed over unchanged), as C×H×W.</summary>
    private static float[] OriginalMap(FamilyGraphs.Family f, float[] nchw)
    {
        var model = ModelProto.Parser.ParseFrom(File.ReadAllBytes(f.Path));
        model.Graph.Output.Clear();
        model.Graph.Output.Add(new ValueInfoProto
        {
            Name = f.FeatureNode,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float } },
        });
        bool nhwc = f.MapLayout == TensorLayout.Nhwc;
        var input = nhwc ? Transpose(nchw, 3, 32, 32) : nchw; // the Keras-style graph takes NHWC
        using var session = new InferenceSession(model.ToByteArray());
        using var runOptions = new RunOptions();
        using var value = OrtValue.CreateTensorValueFromMemory(input, nhwc ? [1, 32, 32, 3] : [1, 3, 32, 32]);
        using var result = session.Run(runOptions, ["image"], [value], [f.FeatureNode]);
        var map = result[0].GetTensorDataAsSpan<float>().ToArray();
        return nhwc ? TransposeBack(map, f.Shape[0], f.Shape[1], f.Shape[2]) : map;
    }

    private static float[] Transpose(float[] chw, int c, int h, int w)
    {
        var hwc = new float[chw.Length];
        for (int k = 0; k < c; k++)
            for (int i = 0; i < h * w; i++)
                hwc[i * c + k] = chw[k * h * w + i];
        return hwc;
    }

    private static float[] TransposeBack(float[] hwc, int c, int h, int w)
    {
        var chw = new float[hwc.Length];
        for (int k = 0; k < c; k++)
            for (int i = 0; i < h * w; i++)
                chw[k * h * w + i] = hwc[i * c + k];
        return chw;
    }
}

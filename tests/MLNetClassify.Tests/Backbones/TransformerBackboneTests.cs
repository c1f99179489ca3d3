using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using MLNetClassify.Backbones;
using MLNetClassify.Numerics;
using Onnx;

namespace MLNetClassify.Tests.Backbones;

/// <summary>
/// Vision-transformer-shaped encoders (<see cref="FamilyGraphs.VitClassToken"/> and its siblings): found, cut at their
/// token sequence, and pooled to the class token or the patch tokens' mean, checked against the original graph's own
/// sequence run on the same pixels.
/// </summary>
public sealed class TransformerBackboneTests
{
    public static TheoryData<string> Variants => ["class-token", "mean-tokens", "encoder-registers"];

    private static (FamilyGraphs.Family Family, int Prefix) Make(string variant, string dir) => variant switch
    {
        "class-token" => (FamilyGraphs.VitClassToken(dir), 1),
        "mean-tokens" => (FamilyGraphs.VitMeanTokens(dir), 0),
        _ => (FamilyGraphs.VitEncoderWithRegisters(dir), 5),
    };

    /// <summary>Preprocessing that hands the pixels over unchanged, so the original graph can be fed the same values.</summary>
    private static readonly BackboneSpec Identity = new()
    {
        Name = "identity-preprocessing", ModelFile = "", Channels = 0, PixelScale = 1f, Mean = Rgb.Zero, Std = Rgb.One,
    };

    [Theory]
    [MemberData(nameof(Variants))]
    public void Inspect_FindsTheTokenSequence_AndItsPatchGrid(string variant)
    {
        var (f, prefix) = Make(variant, TestPaths.NewTempDirectory());
        var found = Backbone.Inspect(f.Path);
        Assert.Equal(f.FeatureNode, found.FeatureNode);
        Assert.Equal(f.Shape, found.FeatureShape);
        Assert.Equal(prefix, found.PrefixTokens);
        Assert.False(found.AnyInputSize); // the position embedding is learnt for one grid
        var spec = Backbone.FromOnnx(f.Path);
        Assert.Equal((16, 4, prefix), (spec.Channels, spec.FeatureMapSide, spec.PrefixTokens));
    }

    [Theory]
    [MemberData(nameof(Variants))]
    public void Features_AreThePatchTokensMean_OrTheClassToken_AndTheMapIsTheGrid(string variant)
    {
        var (f, prefix) = Make(variant, TestPaths.NewTempDirectory());
        var spec = Backbone.FromOnnx(f.Path, Identity);
        const int batch = 3, tokensPerImage = 16, c = 16;
        var rng = new Random(5);
        var pixels = Enumerable.Range(0, batch * 3 * 32 * 32).Select(_ => (float)rng.Next(256)).ToArray();
        var sequence = OriginalSequence(f, pixels, batch); // batch × T × C
        int t = prefix + tokensPerImage;

        var mean = Run(FeaturizerGraph.Build(spec), pixels, batch, FeaturizerGraph.OutputName);
        var map = Run(FeaturizerGraph.BuildFeatureMap(spec), pixels, batch, FeaturizerGraph.FeatureMapName);
        Assert.Equal(new[] { c, 4, 4 }, FeaturizerGraph.FeatureMapShape(spec));
        for (int b = 0; b < batch; b++)
        {
            var expectedMean = new float[c];
            var expectedMap = new float[c * tokensPerImage];
            for (int k = 0; k < c; k++)
                for (int p = 0; p < tokensPerImage; p++)
                {
                    float v = sequence[(b * t + prefix + p) * c + k];
                    expectedMean[k] += v / tokensPerImage;
                    expectedMap[k * tokensPerImage + p] = v; // channel-major, the grid row by row
                }
            Assert.True(Kernels.RelativeL2Difference(mean.AsSpan(b * c, c), expectedMean) <= 1e-5, $"{variant} row {b}: mean of patch tokens");
            Assert.True(Kernels.RelativeL2Difference(map.AsSpan(b * c * tokensPerImage, c * tokensPerImage), expectedMap) <= 1e-5, $"{variant} row {b}: grid");
        }

        var classTokenSpec = spec with { Pooling = FeaturePooling.ClassToken };
        if (prefix == 0)
        {
            var e = Assert.Throws<ArgumentException>(() => FeaturizerGraph.Build(classTokenSpec));
            Assert.Contains("no class token", e.Message);
            return;
        }
        var first = Run(FeaturizerGraph.Build(classTokenSpec), pixels, batch, FeaturizerGraph.OutputName);
        for (int b = 0; b < batch; b++)
            Assert.Equal(sequence.AsSpan(b * t * c, c).ToArray(), first.AsSpan(b * c, c).ToArray()); // the same node's values: bit-equal
    }

    [Fact]
    public void PoolingsThatNeedAConvolutionalMap_AreRefusedForTokens_AndTheClassTokenForMaps()
    {
        var dir = TestPaths.NewTempDirectory();
        var vit = Backbone.FromOnnx(FamilyGraphs.VitClassToken(dir).Path);
        Assert.Contains("token sequence", Assert.Throws<ArgumentException>(() => FeaturizerGraph.Build(vit with { Pooling = FeaturePooling.Rich })).Message);
        Assert.Contains("cannot run at twice", Assert.Throws<ArgumentException>(() => FeaturizerGraph.Build(vit with { Pooling = FeaturePooling.TwoScales })).Message);
        var cnn = Backbone.FromOnnx(FamilyGraphs.Residual(dir).Path);
        Assert.Contains("not a transformer", Assert.Throws<ArgumentException>(() => FeaturizerGraph.Build(cnn with { Pooling = FeaturePooling.ClassToken })).Message);
    }

    private static float[] Run(byte[] graph, float[] pixels, int batch, string output)
    {
        using var session = new InferenceSession(graph);
        using var runOptions = new RunOptions();
        using var input = OrtValue.CreateTensorValueFromMemory(pixels, [batch, 3, 32, 32]);
        using var result = session.Run(runOptions, [FeaturizerGraph.InputName], [input], [output]);
        return result[0].GetTensorDataAsSpan<float>().ToArray();
    }

    /// <summary>The original graph's token sequence for the batch (pixels handed over unchanged), batch × T × C.</summary>
    private static float[] OriginalSequence(FamilyGraphs.Family f, float[] pixels, int batch)
    {
        var model = ModelProto.Parser.ParseFrom(File.ReadAllBytes(f.Path));
        model.Graph.Output.Clear();
        model.Graph.Output.Add(new ValueInfoProto
        {
            Name = f.FeatureNode,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float } },
        });
        using var session = new InferenceSession(model.ToByteArray());
        using var runOptions = new RunOptions();
        using var value = OrtValue.CreateTensorValueFromMemory(pixels, [batch, 3, 32, 32]);
        using var result = session.Run(runOptions, ["image"], [value], [f.FeatureNode]);
        return result[0].GetTensorDataAsSpan<float>().ToArray();
    }
}

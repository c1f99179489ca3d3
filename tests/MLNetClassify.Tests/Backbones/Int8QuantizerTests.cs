using Microsoft.ML.OnnxRuntime;
using MLNetClassify.Backbones;
using MLNetClassify.Numerics;
using MLNetClassify.Onnx;

namespace MLNetClassify.Tests.Backbones;

public sealed class Int8QuantizerTests
{
    private const int Size = 128;

    [Fact]
    public void Int8Graph_KeepsTheSensitiveStemFloat_QuantizesTheRest_AndStaysCloserToFloat32ThanAllInt8()
    {
        var fp32Spec = BackboneCatalog.ResNet18 with { Weights = WeightStorage.Float32, InputSize = Size, Name = "resnet18@128-test" };
        var fp32 = FeaturizerGraph.Build(fp32Spec);
        var int8 = FeaturizerGraph.Build(fp32Spec with { Precision = ComputePrecision.Int8 });
        var allInt8 = Int8Quantizer.Quantize(fp32, Int8Calibration.Pixels(Size), Size, Int8Options.All);

        // Every convolution of the all-int8 graph reads dequantized int8 weights; the default keeps the first (the stem,
        // whose error alone is the largest) and at most a quarter of them float32, and is well under half the float32 graph.
        var (allConvs, allQuantized) = Convolutions(allInt8);
        Assert.Equal(allConvs.Count, allQuantized.Count(q => q));
        var (convs, quantized) = Convolutions(int8);
        Assert.False(quantized[0]);
        Assert.InRange(quantized.Count(q => !q), 1, convs.Count / 4);
        Assert.True(int8.Length < 0.45 * fp32.Length, $"{int8.Length} of {fp32.Length} bytes");

        // Generated images other than the calibration set, batch 3. A broken scale or zero point gives errors of order 1.
        var images = TestImages.LogoFolder(TestPaths.NewTempDirectory(), 2, seed: 31, size: 160).Take(3).ToList();
        var pixels = new float[3 * 3 * Size * Size];
        using (var readers = new MLNetClassify.Images.PixelReaders(new Microsoft.ML.MLContext(1), Size))
            for (int i = 0; i < 3; i++)
                Assert.Null(readers.TryRead(MLNetClassify.Images.ImageSource.FromFile(images[i].ImagePath), pixels.AsSpan(i * 3 * Size * Size, 3 * Size * Size)));
        var a = Run(fp32, pixels);
        double Error(byte[] graph)
        {
            var b = Run(graph, pixels);
            return Enumerable.Range(0, 3).Average(row => Kernels.RelativeL2Difference(a.AsSpan(row * 512, 512), b.AsSpan(row * 512, 512)));
        }
        double mixed = Error(int8), all = Error(allInt8);
        Assert.True(mixed < 0.1, $"mixed precision: relative L2 {mixed:F3}");
        Assert.True(mixed < 0.8 * all, $"mixed {mixed:F3} against all-int8 {all:F3}");
    }

    [Theory]
    [InlineData(1f, 1f)]
    [InlineData(100.3f, 100.5f)]
    [InlineData(100.49f, 100.5f)]
    [InlineData(0.0123f, 0.01232910156f)]
    public void Coarse_RoundsPositiveRangesUpTo8SignificantBits(float value, float expected)
    {
        float coarse = Int8Quantizer.Coarse(value);
        Assert.Equal(expected, coarse, 1e-9f);
        Assert.InRange(coarse, value, value * (1 + 1f / 128));
        // A value one ulp below, as another CPU's kernels may give, lands on the same grid point.
        float below = MathF.BitDecrement(value);
        Assert.NotEqual(value, below);
        Assert.Equal(coarse, Int8Quantizer.Coarse(below));
    }

    [Theory]
    [InlineData(0f)]
    [InlineData(-3f)]
    public void Coarse_LeavesZeroAndNegativeValuesAlone(float value) => Assert.Equal(value, Int8Quantizer.Coarse(value));

    private static (List<global::Onnx.NodeProto> Convs, bool[] Quantized) Convolutions(byte[] graph)
    {
        var model = global::Onnx.ModelProto.Parser.ParseFrom(graph);
        var producers = model.Graph.Node.SelectMany(n => n.Output.Select(o => (o, n))).ToDictionary(p => p.o, p => p.n);
        var convs = model.Graph.Node.Where(n => n.OpType == "Conv").ToList();
        return (convs, convs.Select(c => producers.TryGetValue(c.Input[1], out var p) && p.OpType == "DequantizeLinear").ToArray());
    }

    private static float[] Run(byte[] graph, float[] pixels)
    {
        using var session = new InferenceSession(graph);
        using var runOptions = new RunOptions();
        using var value = OrtValue.CreateTensorValueFromMemory(pixels, [3, 3, Size, Size]);
        using var result = session.Run(runOptions, [FeaturizerGraph.InputName], [value], [FeaturizerGraph.OutputName]);
        return result[0].GetTensorDataAsSpan<float>().ToArray();
    }
}

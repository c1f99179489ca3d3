using Microsoft.ML.OnnxRuntime;
using MLNetClassify.Backbones;
using MLNetClassify.Numerics;

namespace MLNetClassify.Tests.Backbones;

public sealed class Int8QuantizerTests
{
    [Fact]
    public void Int8Graph_RunsConvolutionsQuantized_AndStaysCloseToFloat32()
    {
        var fp32Spec = BackboneCatalog.ResNet18 with { Weights = WeightStorage.Float32, InputSize = 128, Name = "resnet18@128-test" };
        var int8Spec = fp32Spec with { Precision = ComputePrecision.Int8 };
        var int8 = FeaturizerGraph.Build(int8Spec);
        var model = Onnx.ModelProto.Parser.ParseFrom(int8);
        // Every convolution reads dequantized int8 weights, and the graph is half the float32 one or less.
        var producers = model.Graph.Node.SelectMany(n => n.Output.Select(o => (o, n))).ToDictionary(p => p.o, p => p.n);
        var convs = model.Graph.Node.Where(n => n.OpType == "Conv").ToList();
        Assert.NotEmpty(convs);
        Assert.All(convs, c => Assert.Equal("DequantizeLinear", producers[c.Input[1]].OpType));
        Assert.True(int8.Length < 0.3 * FeaturizerGraph.Build(fp32Spec).Length);

        // Generated images other than the calibration set, batch 3: ~0.11 relative L2 here (~0.05 on photos at 224); a broken
        // scale or zero point gives errors of order 1.
        var images = TestImages.LogoFolder(TestPaths.NewTempDirectory(), 2, seed: 31, size: 160).Take(3).ToList();
        var pixels = new float[3 * 3 * 128 * 128];
        using (var readers = new MLNetClassify.Images.PixelReaders(new Microsoft.ML.MLContext(1), 128))
            for (int i = 0; i < 3; i++)
                Assert.Null(readers.TryRead(MLNetClassify.Images.ImageSource.FromFile(images[i].ImagePath), pixels.AsSpan(i * 3 * 128 * 128, 3 * 128 * 128)));
        float[] Run(byte[] graph)
        {
            using var session = new InferenceSession(graph);
            using var runOptions = new RunOptions();
            using var value = OrtValue.CreateTensorValueFromMemory(pixels, [3, 3, 128, 128]);
            using var result = session.Run(runOptions, [FeaturizerGraph.InputName], [value], [FeaturizerGraph.OutputName]);
            return result[0].GetTensorDataAsSpan<float>().ToArray();
        }
        var a = Run(FeaturizerGraph.Build(fp32Spec));
        var b = Run(int8);
        for (int row = 0; row < 3; row++)
        {
            double d = Kernels.RelativeL2Difference(a.AsSpan(row * 512, 512), b.AsSpan(row * 512, 512));
            Assert.True(d < 0.15, $"row {row}: relative L2 {d:F3}");
        }
    }
}

using Microsoft.ML.OnnxRuntime;
using MLNetClassify.Backbones;
using MLNetClassify.Onnx;
using Onnx;

namespace MLNetClassify.Tuning;

/// <summary>Trainable tails cut from the catalogued backbones' real graphs.</summary>
internal static class BackboneTails
{
    /// <summary>The embedded ResNet18's (CNTK export) stage-3 output, N×256×14×14 at 224, where its last stage begins.</summary>
    public const string ResNet18Stage3 = "ReLU347_Output_0";

    /// <summary>The embedded ResNet18's last-stage output, N×512×7×7 at 224 (<see cref="BackboneSpec.FeatureMapNode"/>).</summary>
    public const string ResNet18Stage4 = "ReLU393_Output_0";

    /// <summary>Channels into and out of ResNet18's last stage.</summary>
    public const int ResNet18Stage3Channels = 256, ResNet18Stage4Channels = 512;

    /// <summary>
    /// ResNet18's last stage (two BasicBlocks, the first with the stride-2 1×1 downsample) with the real ImageNet
    /// weights, BatchNormalization folded, followed by global average pooling and a Gemm head [K, 512] + [K].
    /// </summary>
    /// <exception cref="FileNotFoundException">The embedded backbone's ONNX file is not found.</exception>
    public static ModelProto ResNet18LastStage(float[] headWeights, float[] headBias)
    {
        var spec = BackboneCatalog.ResNet18;
        var backbone = FeaturizerGraph.ReadModel(spec.ResolveModelFile(), spec.Name);
        var stage = BatchNormFolding.Fold(TailGraph.Cut(backbone, ResNet18Stage3, ResNet18Stage4));
        return TailGraph.WithHead(stage, ResNet18Stage4Channels, headWeights, headBias);
    }

    /// <summary>The embedded ResNet18 cut at its stage-3 output: RGB planes in, N×256×14×14 (at 224) out, float32 weights.</summary>
    public static BackboneSpec ResNet18Stage3Spec { get; } = BackboneCatalog.ResNet18 with
    {
        Name = "resnet18-cntk-stage3",
        FeatureMapNode = ResNet18Stage3,
        Channels = ResNet18Stage3Channels,
        FeatureMapSide = 14,
        Weights = WeightStorage.Float32,
    };

    /// <summary>
    /// Stage-3 maps [<paramref name="count"/>, 256, 14, 14] of the first generated calibration scenes at 224
    /// (<see cref="Int8Calibration.Pixels"/>): real activations for a last-stage tail to start from.
    /// </summary>
    public static float[] ResNet18Stage3Maps(int count)
    {
        if (count is < 1 or > Int8Calibration.Images)
            throw new ArgumentOutOfRangeException(nameof(count), count, $"Between 1 and {Int8Calibration.Images} scenes.");
        const int size = 224;
        var pixels = Int8Calibration.Pixels(size).AsMemory(0, count * 3 * size * size);
        using var options = new SessionOptions { IntraOpNumThreads = 1 };
        using var session = new InferenceSession(FeaturizerGraph.BuildFeatureMap(ResNet18Stage3Spec), options);
        using var input = OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, pixels, [count, 3, size, size]);
        using var runOptions = new RunOptions();
        using var results = session.Run(runOptions, [FeaturizerGraph.InputName], [input], [FeaturizerGraph.FeatureMapName]);
        return results[0].GetTensorDataAsSpan<float>().ToArray();
    }
}

namespace MLNetClassify.Backbones;

/// <summary>The backbones MLNetClassify knows by name.</summary>
public static class BackboneCatalog
{
    /// <summary>
    /// The embedded default: ImageNet ResNet18 from NuGet Microsoft.ML.DnnImageFeaturizer.ResNet18 0.23.1
    /// (the graph behind ML.NET's DnnFeaturizeImage). CNTK export, opset 8: input Input247 1×3×224×224 as
    /// BGR 0–255 minus the mean image in the package's ResNetPreprocess.onnx; output Pooling395_Output_0 1×512×1×1.
    /// The package's build props copy both files to DnnImageModels/ in the output folder. Its weights are stored as
    /// float16 in the featurizer graph (a 30 MB model zip instead of 60 MB; features within ~1.5e-3 relative L2 of
    /// float32, accuracy unchanged on the shared sets, docs/speed-and-memory.md); <c>with { Weights = WeightStorage.Float32 }</c>
    /// keeps them bit for bit.
    /// </summary>
    public static BackboneSpec ResNet18 { get; } = new()
    {
        Name = "resnet18-cntk",
        ModelFile = Path.Combine("DnnImageModels", "ResNet18Onnx", "ResNet18.onnx"),
        InputSize = 224,
        Order = PixelOrder.Bgr,
        PixelScale = 1f,
        Mean = Rgb.Zero,
        Std = Rgb.One,
        MeanImage = new MeanImageSource(Path.Combine("DnnImageModels", "ResNetPrepOnnx", "ResNetPreprocess.onnx"), "MeanImage"),
        InputNode = "Input247",
        FeatureNode = "Pooling395_Output_0",
        FeatureMapNode = "ReLU393_Output_0", // the N×512×7×7 (at 224) map that Pooling395 averages with a 7×7 kernel
        Channels = 512,
        Weights = WeightStorage.Float16,
        Licence = "MIT (NuGet Microsoft.ML.DnnImageFeaturizer.ResNet18 0.23.1)",
        Source = "NuGet Microsoft.ML.DnnImageFeaturizer.ResNet18 0.23.1",
    };

    /// <summary>ResNet18 run fully convolutionally on <paramref name="size"/>×<paramref name="size"/> images.</summary>
    public static BackboneSpec ResNet18AtSize(int size) => size == ResNet18.InputSize ? ResNet18 : ResNet18 with { Name = $"{ResNet18.Name}@{size}", InputSize = size };

    /// <summary>Every catalogued backbone.</summary>
    public static IReadOnlyList<BackboneSpec> All { get; } = [ResNet18];

    /// <summary>The catalogued backbone called <paramref name="name"/> (case-insensitive).</summary>
    /// <exception cref="ArgumentException">No backbone has that name; the message lists the known ones.</exception>
    public static BackboneSpec Get(string name) =>
        All.FirstOrDefault(b => string.Equals(b.Name, name, StringComparison.OrdinalIgnoreCase)
                                || string.Equals(name, "resnet18", StringComparison.OrdinalIgnoreCase) && b == ResNet18)
        ?? throw new ArgumentException($"Unknown backbone '{name}'. Known: {string.Join(", ", All.Select(b => b.Name))}.", nameof(name));
}

namespace MLNetClassify.Backbones;

/// <summary>The backbones MLNetClassify knows by name.</summary>
public static class BackboneCatalog
{
    /// <summary>
    /// The embedded default: ImageNet ResNet18 from NuGet Microsoft.ML.DnnImageFeaturizer.ResNet18 0.23.1
    /// (the graph behind ML.NET's DnnFeaturizeImage). CNTK export, opset 8: input Input247 1×3×224×224 as
    /// BGR 0–255 minus the mean image in the package's ResNetPreprocess.onnx; output Pooling395_Output_0 1×512×1×1.
    /// The package's build props copy both files to DnnImageModels/ in the output folder of a project that references it
    /// directly (the CLI does; apps that reference MLNetClassify only find them in the NuGet package folder). Its weights are stored as
    /// float16 in the featurizer graph (a 30 MB model zip instead of 60 MB; features within 1.3e-3 relative L2 of
    /// float32 storage on the tested images, docs/speed-and-memory.md); <c>with { Weights = WeightStorage.Float32 }</c>
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
        FeatureMapSide = 7,
        Embedded = true,
        Licence = "MIT (NuGet Microsoft.ML.DnnImageFeaturizer.ResNet18 0.23.1)",
        Source = "NuGet Microsoft.ML.DnnImageFeaturizer.ResNet18 0.23.1",
    };

    /// <summary>ResNet18 run fully convolutionally on <paramref name="size"/>×<paramref name="size"/> images.</summary>
    public static BackboneSpec ResNet18AtSize(int size) => size == ResNet18.InputSize ? ResNet18 : ResNet18 with { Name = $"{ResNet18.Name}@{size}", InputSize = size };

    /// <summary>torchvision's ImageNet convention: RGB, 0–1, ImageNet mean and std, resize 256 and centre-crop 224.</summary>
    private static BackboneSpec Torchvision(string name, int channels, int size = 224, float crop = 0.875f, int side = 7) => new()
    {
        Name = $"torchvision/{name}",
        ModelFile = $"{name}.onnx",
        InputSize = size,
        CropFraction = crop,
        Channels = channels,
        FeatureMapSide = side,
        Licence = "torchvision code BSD-3-Clause; check the terms of the weights you export",
        Source = $"torch.onnx.export(torchvision.models.{name}(weights=...)) — bring the file",
    };

    /// <summary>The ONNX Model Zoo's ImageNet classifiers (input names and scales as their model cards give them).</summary>
    private static BackboneSpec Zoo(string name, int channels, string input) => new()
    {
        Name = $"zoo/{name}",
        ModelFile = $"{name}.onnx",
        InputNode = input,
        CropFraction = 0.875f,
        Channels = channels,
        FeatureMapSide = 7,
        Licence = "see the ONNX Model Zoo model card",
        Source = $"ONNX Model Zoo, vision/classification ({name}) — bring the file",
    };

    /// <summary>
    /// A vision transformer's image encoder exported to ONNX: its output (or its classifier's input) is a token
    /// sequence N×T×C, found and pooled by <see cref="Backbone.FromOnnx"/>; <paramref name="side"/> is its patch grid's.
    /// </summary>
    private static BackboneSpec Transformer(string name, int channels, int side, float crop, Rgb mean, Rgb std, string licence, string source) => new()
    {
        Name = name,
        ModelFile = $"{name[(name.IndexOf('/') + 1)..]}.onnx",
        CropFraction = crop,
        Mean = mean,
        Std = std,
        Channels = channels,
        FeatureMapSide = side,
        AnyInputSize = false,
        Licence = licence,
        Source = source,
    };

    /// <summary>
    /// Every catalogued backbone: the embedded ResNet18, then presets for files the user brings, which
    /// <see cref="Backbone.FromOnnx"/> completes with the nodes it finds in the file.
    /// </summary>
    public static IReadOnlyList<BackboneSpec> All { get; } =
    [
        ResNet18,
        Torchvision("resnet18", 512), Torchvision("resnet34", 512), Torchvision("resnet50", 2048),
        Torchvision("resnet101", 2048), Torchvision("resnet152", 2048),
        Torchvision("googlenet", 1024),
        Torchvision("inception_v3", 2048, size: 299, crop: 299f / 342f, side: 8),
        Torchvision("vgg16", 512), Torchvision("vgg19", 512),
        Torchvision("mobilenet_v2", 1280),
        Torchvision("efficientnet_b0", 1280),
        Zoo("resnet50-v1", 2048, "data"), Zoo("resnet50-v2", 2048, "data"),
        // Caffe2 exports: BGR planes, 0–255, per-channel mean subtracted, no scaling (the usual Caffe ImageNet means;
        // not checked against a file here, as none ships: compare with the model card before trusting the features).
        Zoo("inception-v1", 1024, "data_0") with { Order = PixelOrder.Bgr, PixelScale = 1f, Mean = new Rgb(123.68f, 116.78f, 103.94f), Std = Rgb.One },
        Zoo("inception-v2", 1024, "data_0") with { Order = PixelOrder.Bgr, PixelScale = 1f, Mean = new Rgb(123.68f, 116.78f, 103.94f), Std = Rgb.One },
        // Vision transformers (token sequences): preprocessing as each project's own transforms give it.
        Transformer("torchvision/vit_b_16", 768, 14, 0.875f, Rgb.ImageNetMean, Rgb.ImageNetStd,
            "torchvision code BSD-3-Clause; check the terms of the weights you export", "torch.onnx.export(torchvision.models.vit_b_16(weights=...)) — bring the file"),
        Transformer("timm/vit_base_patch16_224", 768, 14, 0.9f, new Rgb(0.5f, 0.5f, 0.5f), new Rgb(0.5f, 0.5f, 0.5f),
            "timm code Apache-2.0; check the terms of the weights you export", "timm.create_model('vit_base_patch16_224', pretrained=True) exported with torch.onnx.export — bring the file"),
        Transformer("facebook/dinov2-small", 384, 16, 0.875f, Rgb.ImageNetMean, Rgb.ImageNetStd,
            "Apache-2.0 (DINOv2 code and weights)", "transformers' Dinov2Model 'facebook/dinov2-small' exported to ONNX (last_hidden_state) — bring the file"),
        Transformer("openai/clip-vit-base-patch32", 768, 7, 1f, new Rgb(0.48145466f, 0.4578275f, 0.40821073f), new Rgb(0.26862954f, 0.26130258f, 0.27577711f),
            "MIT (CLIP code and weights)", "transformers' CLIPVisionModel 'openai/clip-vit-base-patch32' exported to ONNX (last_hidden_state) — bring the file"),
    ];

    /// <summary>
    /// The catalogued backbone called <paramref name="name"/> (case-insensitive; "resnet18" is the embedded one, and
    /// other names may leave out their "torchvision/" or "zoo/" prefix).
    /// </summary>
    /// <exception cref="ArgumentException">No backbone has that name; the message lists the known ones.</exception>
    public static BackboneSpec Get(string name)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (string.Equals(name, "resnet18", StringComparison.OrdinalIgnoreCase))
            return ResNet18;
        return All.FirstOrDefault(b => string.Equals(b.Name, name, StringComparison.OrdinalIgnoreCase))
            ?? All.FirstOrDefault(b => string.Equals(b.Name[(b.Name.IndexOf('/') + 1)..], name, StringComparison.OrdinalIgnoreCase))
            ?? throw new ArgumentException($"Unknown backbone '{name}'. Known: {string.Join(", ", All.Select(b => b.Name))}.", nameof(name));
    }

    /// <summary>
    /// A spec for a backbone you bring as an ONNX image classifier (torchvision export, ONNX Model Zoo, Keras through
    /// tf2onnx, ...): the classifier tail — Softmax / Gemm / MatMul+Add / Flatten / Reshape after the last global pool or
    /// spatial feature map — is found and cut off; a vision transformer (ViT, DeiT, DINOv2, a CLIP image encoder) is cut at
    /// its token sequence N×T×C, whose class token or patch tokens' mean become the features (<see cref="FeaturePooling"/>);
    /// preprocessing comes from <paramref name="preset"/>, else from the
    /// catalogue entry the file name matches, else ImageNet's (RGB, 0–1, mean/std).
    /// </summary>
    /// <param name="path">The ONNX file.</param>
    /// <param name="preset">Preprocessing and input size to use; null to match one from the catalogue.</param>
    /// <param name="featureNode">Cut at this node output instead of the detected one (the way out when detection cannot decide).</param>
    /// <exception cref="FileNotFoundException">No such file.</exception>
    /// <exception cref="InvalidDataException">Not an ONNX image classifier, or the feature map cannot be decided (the message lists candidates).</exception>
    public static BackboneSpec FromOnnx(string path, BackboneSpec? preset = null, string? featureNode = null) =>
        Backbone.FromOnnx(path, preset, featureNode);
}

namespace MLNetClassify.Backbones;

/// <summary>The channel order a backbone expects.</summary>
public enum PixelOrder
{
    /// <summary>Red, green, blue planes.</summary>
    Rgb,

    /// <summary>Blue, green, red planes (Caffe and CNTK exports).</summary>
    Bgr,
}

/// <summary>How a 4-D image tensor is laid out.</summary>
public enum TensorLayout
{
    /// <summary>Batch, channels, height, width (PyTorch, CNTK, Caffe exports).</summary>
    Nchw,

    /// <summary>Batch, height, width, channels (Keras / TensorFlow exports through tf2onnx).</summary>
    Nhwc,
}

/// <summary>Three per-channel values in red, green, blue order (whatever order the backbone takes its planes in).</summary>
/// <param name="R">The red channel's value.</param>
/// <param name="G">The green channel's value.</param>
/// <param name="B">The blue channel's value.</param>
public readonly record struct Rgb(float R, float G, float B)
{
    /// <summary>ImageNet mean on a 0–1 scale.</summary>
    public static Rgb ImageNetMean { get; } = new(0.485f, 0.456f, 0.406f);

    /// <summary>ImageNet standard deviation on a 0–1 scale.</summary>
    public static Rgb ImageNetStd { get; } = new(0.229f, 0.224f, 0.225f);

    /// <summary>Zero in every channel.</summary>
    public static Rgb Zero { get; } = new(0, 0, 0);

    /// <summary>One in every channel.</summary>
    public static Rgb One { get; } = new(1, 1, 1);
}

/// <summary>
/// Everything needed to run one pretrained backbone as a featurizer: where its ONNX file is, how pixels are
/// prepared for it, and which node holds the features. One record per backbone; variants with <c>with</c>.
/// </summary>
/// <remarks>
/// Pixels reach the backbone as ML.NET's ExtractPixels makes them (RGB planes, 0–255). The featurizer graph
/// then computes, per channel in the backbone's order, (pixel · <see cref="PixelScale"/> − mean) / std, where
/// mean is <see cref="MeanImage"/> when given (a whole image, as the CNTK export wants) or <see cref="Mean"/>.
/// </remarks>
public sealed record BackboneSpec
{
    /// <summary>Catalogue name, e.g. "resnet18-cntk".</summary>
    public required string Name { get; init; }

    /// <summary>The ONNX file: absolute, or relative to the application's base folder.</summary>
    public required string ModelFile { get; init; }

    /// <summary>Side length of the square input, in pixels.</summary>
    public int InputSize { get; init; } = 224;

    /// <summary>
    /// Fraction of the resized image kept by the centre crop: the image is resized (shorter side, centred) to
    /// <see cref="ResizeSize"/> = InputSize / CropFraction and the centre InputSize×InputSize is cut out inside the
    /// featurizer graph (torchvision's "resize 256, crop 224" is 0.875). 1 means no crop.
    /// </summary>
    public float CropFraction { get; init; } = 1f;

    /// <summary>The side the image is resized to before the centre crop.</summary>
    /// <remarks>Twice that for <see cref="FeaturePooling.TwoScales"/>, whose graph halves the image inside for its second pass.</remarks>
    public int ResizeSize => (Pooling == FeaturePooling.TwoScales ? 2 : 1) * (CropFraction >= 1f ? InputSize : (int)Math.Round(InputSize / CropFraction));

    /// <summary>Layout of the graph's input tensor: <see cref="TensorLayout.Nchw"/> (PyTorch exports) or <see cref="TensorLayout.Nhwc"/> (Keras).</summary>
    public TensorLayout Layout { get; init; } = TensorLayout.Nchw;

    /// <summary>Layout of the feature-map tensor (<see cref="FeatureMapNode"/>); NHWC maps are transposed before pooling.</summary>
    internal TensorLayout FeatureMapLayout { get; init; } = TensorLayout.Nchw;

    /// <summary>Side of the feature map at <see cref="InputSize"/> (7 for ResNets at 224), when known; checked by the contract test.</summary>
    internal int? FeatureMapSide { get; init; }

    /// <summary>
    /// Set when <see cref="FeatureMapNode"/> is a vision transformer's token sequence N×T×C rather than a map: how many
    /// tokens (a class token, registers) precede the patch grid of <see cref="FeatureMapSide"/>² tokens. The graph then
    /// lays the patch tokens out as an N×C×side×side map (for pooling and class activation maps), or takes the class
    /// token (<see cref="FeaturePooling.ClassToken"/>).
    /// </summary>
    internal int? PrefixTokens { get; init; }

    /// <summary>True when the graph runs at any input size (fully convolutional up to the feature map).</summary>
    public bool AnyInputSize { get; init; } = true;

    /// <summary>True when the ONNX file ships with MLNetClassify; false when the user brings it.</summary>
    public bool Embedded { get; init; }

    /// <summary>Channel order the graph expects: <see cref="PixelOrder.Rgb"/>, or <see cref="PixelOrder.Bgr"/> for Caffe and CNTK exports.</summary>
    public PixelOrder Order { get; init; } = PixelOrder.Rgb;

    /// <summary>
    /// Factor from 0–255 pixels to the graph's scale: 1/255 (the default) for a graph trained on 0–1 pixels, 1 for
    /// 0–255 (Caffe), 2/255 with <see cref="Mean"/> 1 and <see cref="Std"/> 1 for a −1…1 graph (Inception, many ViTs).
    /// Positive and finite.
    /// </summary>
    public float PixelScale { get; init; } = 1f / 255f;

    /// <summary>
    /// Per-channel mean on the graph's scale, subtracted after scaling (ImageNet's by default); finite. The embedded
    /// ResNet18 subtracts CNTK's mean image instead, and then neither this nor <see cref="Std"/> is used.
    /// </summary>
    public Rgb Mean { get; init; } = Rgb.ImageNetMean;

    /// <summary>Per-channel standard deviation on the graph's scale, divided by after the mean (ImageNet's by default); positive and finite.</summary>
    public Rgb Std { get; init; } = Rgb.ImageNetStd;

    /// <summary>Checks the preprocessing: what a featurizer graph is built from.</summary>
    /// <exception cref="ArgumentException">A value is out of range; the message names the property and the backbone.</exception>
    internal void Validate()
    {
        static bool Finite(Rgb v) => float.IsFinite(v.R) && float.IsFinite(v.G) && float.IsFinite(v.B);
        string? problem =
            !(PixelScale > 0 && float.IsFinite(PixelScale)) ? $"PixelScale {PixelScale} must be positive and finite"
            : !Finite(Mean) ? $"Mean {Mean} must be finite"
            : !(Finite(Std) && Std.R > 0 && Std.G > 0 && Std.B > 0) ? $"Std {Std} must be positive and finite in every channel"
            : !Enum.IsDefined(Order) ? $"Order {(int)Order} is neither Rgb nor Bgr"
            : !Enum.IsDefined(Layout) ? $"Layout {(int)Layout} is neither Nchw nor Nhwc"
            : InputSize <= 0 ? $"InputSize {InputSize} must be positive"
            : !(CropFraction > 0 && CropFraction <= 1) ? $"CropFraction {CropFraction} must be in (0, 1]"
            : null;
        if (problem is not null)
            throw new ArgumentException($"Backbone '{Name}': {problem}.");
    }

    /// <summary>A mean image to subtract instead of <see cref="Mean"/>: an ONNX file and the initializer in it.</summary>
    internal MeanImageSource? MeanImage { get; init; }

    /// <summary>Name of the graph input that takes the prepared image; null in a preset whose file is still to be read.</summary>
    public string? InputNode { get; init; }

    /// <summary>
    /// Name of the node output that holds the pooled features (N×C×1×1 or N×C), used when no
    /// <see cref="FeatureMapNode"/> is known; null when the feature map is known or still to be found by <see cref="Backbone.FromOnnx"/>.
    /// </summary>
    public string? FeatureNode { get; init; }

    /// <summary>
    /// Name of the node output that holds the last unpooled feature map (N×C×H×W), when known. With it the
    /// featurizer pools globally itself, so any <see cref="InputSize"/> works (the graph is fully convolutional
    /// up to there); without it the graph runs to <see cref="FeatureNode"/> at its native size only.
    /// </summary>
    public string? FeatureMapNode { get; init; }

    /// <summary>Length of the feature vector (C).</summary>
    public required int Channels { get; init; }

    /// <summary>
    /// What the features are: the global average of the last feature map (<see cref="FeaturePooling.Average"/>, the
    /// default: <see cref="Channels"/> values; for a vision transformer the mean of its patch tokens), or
    /// <see cref="FeaturePooling.Rich"/> (more values, same backbone pass), or a transformer's class token.
    /// </summary>
    public FeaturePooling Pooling { get; init; } = FeaturePooling.Average;

    /// <summary>
    /// How the featurizer graph stores the backbone's large weight tensors. <see cref="WeightStorage.Float16"/> halves
    /// the graph (and so the saved model zip); ONNX Runtime casts the weights back to float32 once, when the session
    /// is created, so arithmetic stays float32.
    /// </summary>
    public WeightStorage Weights { get; init; } = WeightStorage.Float32;

    /// <summary>
    /// The featurizer graph's arithmetic on the CPU. <see cref="ComputePrecision.Int8"/> quantizes the convolutions
    /// (the few that move the features most stay float32): about twice float32's speed on a CPU with AVX-512 VNNI, at
    /// the accuracy docs/speed-and-memory.md measures on the shared splits. Building the int8 graph calibrates it on
    /// generated images (seconds, once per process); a saved model embeds the quantized graph. Weight storage does not
    /// apply to int8 graphs.
    /// </summary>
    public ComputePrecision Precision { get; init; } = ComputePrecision.Float32;

    /// <summary>Licence of the weights.</summary>
    public string? Licence { get; init; }

    /// <summary>Where the weights come from.</summary>
    public string? Source { get; init; }

    /// <summary>The model file as an absolute path.</summary>
    public string ResolveModelFile() => Resolve(ModelFile);

    /// <summary>
    /// A relative file found where any host has it: beside the application (an app's bin, the installed tool), beside
    /// MLNetClassify.dll (a host that loads the library from elsewhere: a notebook, a script, a plugin), and for the
    /// embedded ResNet18 in the NuGet package folder (the package's build props copy it into the output of an app that
    /// references the package directly; an app that references MLNetClassify only, or a host
    /// without those props, such as a notebook's <c>#r "nuget: ..."</c>, only has it there). The first that exists;
    /// the application's own path when none does (the error then names it).
    /// </summary>
    internal static string Resolve(string file)
    {
        if (Path.IsPathRooted(file)) return file;
        var candidates = Candidates(file).ToList();
        return candidates.FirstOrDefault(File.Exists) ?? candidates[0];
    }

    /// <summary>Where <see cref="Resolve"/> looks for a relative file, in order.</summary>
    internal static IEnumerable<string> Candidates(string file)
    {
        yield return Path.Combine(AppContext.BaseDirectory, file);
        // Empty in a single-file app, whose files sit beside it (the base folder) anyway.
        if (Path.GetDirectoryName(typeof(BackboneSpec).Assembly.Location) is { Length: > 0 } library)
            yield return Path.Combine(library, file);
        if (file.StartsWith("DnnImageModels", StringComparison.Ordinal))
        {
            var packages = Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } configured
                ? configured
                : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
            yield return Path.Combine(packages, "microsoft.ml.dnnimagefeaturizer.resnet18", "0.23.1", "tools", file);
        }
    }
}

/// <summary>How a featurizer graph pools the backbone's feature maps into one feature vector per image.</summary>
public enum FeaturePooling
{
    /// <summary>Global average of the last feature map (the backbone's own pooling): C values.</summary>
    Average,

    /// <summary>
    /// The global average of the last feature map, then the global average of the mid-level map (the last one at twice
    /// the last map's side: ResNet's third stage), scaled to the same magnitude, from the same single pass (ResNet18:
    /// 512 + 256 = 768 values). Mid-level features carry texture and part detail that transfers to images far from
    /// ImageNet. Global maximum pooling (fastai's concat pooling) was measured too and left out: it lost on validation
    /// folds (docs/accuracy.md).
    /// </summary>
    Rich,

    /// <summary>
    /// The global average at the input size S and at 2S, concatenated (2·C values): the image is prepared at 2S, and the
    /// graph runs the backbone on it and on its 2×2-averaged half. Fine detail (cracks, textures, small objects) shows at 2S;
    /// the backbone costs about five times the single pass.
    /// </summary>
    TwoScales,

    /// <summary>
    /// A vision transformer's class token (the first token of its output sequence; C values), which its own classifier
    /// reads, instead of the mean of its patch tokens. Only for token-sequence backbones with a class token.
    /// </summary>
    ClassToken,
}

/// <summary>The arithmetic a featurizer graph runs in.</summary>
public enum ComputePrecision
{
    /// <summary>float32 throughout.</summary>
    Float32,

    /// <summary>
    /// Convolutions in int8 (weights per channel, activations per tensor, ranges calibrated on generated images),
    /// through ONNX Runtime's quantized CPU kernels (VNNI / AMX); the convolutions that, quantized alone, change the
    /// features most (for ResNet18 the stem and first stage) stay float32.
    /// </summary>
    Int8,
}

/// <summary>How a featurizer graph stores the backbone's weights.</summary>
public enum WeightStorage
{
    /// <summary>As the backbone file has them (float32).</summary>
    Float32,

    /// <summary>Tensors of 1,024 values or more as float16, each followed by a Cast to float32 that ONNX Runtime folds at load.</summary>
    Float16,
}

/// <summary>An initializer in an ONNX file that holds a mean image (1×3×H×W, in the backbone's channel order).</summary>
/// <param name="File">The ONNX file: absolute, or relative to the application's base folder.</param>
/// <param name="Initializer">Name of the initializer tensor.</param>
internal sealed record MeanImageSource(string File, string Initializer);

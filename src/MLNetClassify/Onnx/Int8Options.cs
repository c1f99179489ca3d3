namespace MLNetClassify.Onnx;

/// <summary>Quantization choices.</summary>
/// <param name="FloatConvolutions">Indices (graph order, after simplification) of convolutions left in float32; null: chosen by sensitivity.</param>
internal sealed record Int8Options(IReadOnlySet<int>? FloatConvolutions)
{
    /// <summary>Convolutions whose error alone exceeds 2× the median stay float32 (at most a quarter of them).</summary>
    public static Int8Options Sensitive { get; } = new((IReadOnlySet<int>?)null);

    /// <summary>Every convolution quantized.</summary>
    public static Int8Options All { get; } = new(new HashSet<int>());

    public double SensitivityFactor { get; init; } = 2.0;

    public double MaxFloatFraction { get; init; } = 0.25;

    /// <summary>Clip each activation range where the squared quantization error on the calibration images is least.</summary>
    public bool ClipSearch { get; init; }

    /// <summary>Calibration images used to measure each convolution's error.</summary>
    public int ProbeImages { get; init; } = 16;
}

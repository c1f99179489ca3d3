using MLNetClassify.Backbones;

namespace MLNetClassify.Featurization;

/// <summary>The featurizer's two ways of running.</summary>
internal enum FeaturizerStrategy
{
    /// <summary>
    /// The CPU default: each worker decodes the next batch and runs it on a single-threaded session call, batches in
    /// parallel, so no core waits at a parallel operator's barrier while another decodes.
    /// </summary>
    Workers,

    /// <summary>
    /// Decoders on all cores fill pooled batch buffers, a bounded channel hands them to one session call at a time that
    /// uses every core: CUDA, and the CPU when <see cref="FeaturizerOptions.DecodeThreads"/> or
    /// <see cref="FeaturizerOptions.InferenceThreads"/> is set.
    /// </summary>
    Pipeline,
}

/// <summary>
/// How a featurizer runs: its strategy, its threads, and how many images each ONNX Runtime call takes. With the
/// <see cref="FeaturizerStrategy.Workers"/> strategy the images in flight (batch buffers filled and run at once, each
/// call's activations) are bounded by <see cref="InFlightBudgetBytes"/>, not by the core count: more cores mean more
/// workers with fewer images each, so peak memory stays where two cores put it.
/// </summary>
/// <param name="Strategy">Workers or pipeline.</param>
/// <param name="Workers">Worker threads (Workers), or decode threads (Pipeline).</param>
/// <param name="ImagesPerCall">Images per session call.</param>
/// <param name="SessionThreads">ONNX Runtime intra-op threads of the session.</param>
internal sealed record FeaturizerPlan(FeaturizerStrategy Strategy, int Workers, int ImagesPerCall, int SessionThreads)
{
    /// <summary>
    /// Memory the images in flight of the workers strategy may take: 80 MiB, what two workers' batches of 8 at 224
    /// pixels take (<see cref="BytesPerImageInFlight"/>), so a two-core machine runs as before and a 16-core one runs
    /// 16 workers of one image each.
    /// </summary>
    public const long InFlightBudgetBytes = 80L << 20;

    /// <summary>The strategy the options select: workers on the CPU unless a thread count is set.</summary>
    public static FeaturizerStrategy StrategyFor(FeaturizerOptions options) =>
        options.Device.Kind == DeviceKind.Cpu && options.InferenceThreads == 0 && options.DecodeThreads == 0
            ? FeaturizerStrategy.Workers : FeaturizerStrategy.Pipeline;

    /// <summary>Intra-op threads of the session the options call for (it is made before the device is known).</summary>
    public static int SessionThreadsFor(FeaturizerOptions options, int cores) =>
        StrategyFor(options) == FeaturizerStrategy.Workers ? 1 : options.InferenceThreads > 0 ? options.InferenceThreads : cores;

    /// <summary>The plan for <paramref name="cores"/> cores, inputs of <paramref name="side"/>² and at most <paramref name="batchSize"/> images a call.</summary>
    public static FeaturizerPlan For(FeaturizerOptions options, int cores, int side, int batchSize)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(cores);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(batchSize);
        int sessionThreads = SessionThreadsFor(options, cores);
        if (StrategyFor(options) == FeaturizerStrategy.Pipeline)
            return new(FeaturizerStrategy.Pipeline, options.DecodeThreads > 0 ? options.DecodeThreads : cores, batchSize, sessionThreads);
        int images = (int)Math.Max(1, InFlightBudgetBytes / BytesPerImageInFlight(side));
        int workers = Math.Min(cores, images);
        return new(FeaturizerStrategy.Workers, workers, Math.Clamp(images / workers, 1, batchSize), sessionThreads);
    }

    /// <summary>
    /// What one image in flight costs: its input planes in the batch buffer and its share of a call's activations,
    /// taken as eight times the input tensor (4.6 MiB at 224 pixels). Measured on ResNet18 at 224: peak RSS while
    /// featurizing grew by about 4.9 MiB per image in flight (16 workers against 2, batches of 8).
    /// </summary>
    public static long BytesPerImageInFlight(int side) => 8L * 3 * side * side * sizeof(float);

    /// <inheritdoc/>
    public override string ToString() => Strategy == FeaturizerStrategy.Workers
        ? $"{Workers} workers × {ImagesPerCall} images per call, 1 ONNX Runtime thread each"
        : $"{Workers} decode threads, {ImagesPerCall} images per call on {SessionThreads} ONNX Runtime threads";
}

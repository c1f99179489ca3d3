using MLNetClassify.Backbones;
using MLNetClassify.Images;

namespace MLNetClassify.Featurization;

/// <summary>Options for <see cref="ImageFeaturizer"/>.</summary>
public sealed record FeaturizerOptions
{
    /// <summary>
    /// Images per ONNX Runtime call; 0 means the device's default (<see cref="ExecutionDevice.DefaultBatchSize"/>:
    /// 8 on CPU, where ResNet18 gains little from batching; 64 on CUDA, docs/gpu.md). On the CPU default (one worker per
    /// core) it is the most a call takes: with many cores each worker takes fewer, so that the images in flight, and
    /// the memory they hold, stay within a fixed budget.
    /// </summary>
    public int BatchSize { get; init; }

    /// <summary>Where the backbone runs.</summary>
    public ExecutionDevice Device { get; init; } = ExecutionDevice.Cpu;

    /// <summary>Fail when <see cref="Device"/> cannot be used, instead of falling back to the CPU.</summary>
    public bool RequireDevice { get; init; }

    /// <summary>
    /// On CUDA, let convolutions round float32 operands to TF32 on the tensor cores (Ampere and later GPUs): faster,
    /// but the features then differ from the CPU's by more (docs/gpu.md has both figures). Off by default, so that CPU
    /// and CUDA features agree; the feature cache keeps TF32 features apart. The CPU ignores it.
    /// </summary>
    public bool AllowTf32 { get; init; }

    /// <summary>
    /// Threads that decode and resize images; 0 means one per core. With both this and <see cref="InferenceThreads"/> at 0
    /// on the CPU (the default), one worker per core decodes a batch and runs it on one ONNX Runtime thread, batches in
    /// parallel: no core waits at a parallel operator's barrier while another decodes.
    /// </summary>
    public int DecodeThreads { get; init; }

    /// <summary>ONNX Runtime intra-op threads; 0 means one per core (see <see cref="DecodeThreads"/> for the CPU default).</summary>
    public int InferenceThreads { get; init; }

    /// <summary>
    /// Folder of a <see cref="FeatureCache"/>: image files already featurized with the same graph are read from it,
    /// the others are featurized and added. Null (the default) turns caching off.
    /// </summary>
    public string? CacheDirectory { get; init; }

    /// <summary>
    /// Images with more pixels than this are refused from their header, before a pixel is decoded, and reported as
    /// skipped (100 megapixels by default: above any phone camera, far below a decompression bomb).
    /// </summary>
    public long MaxImagePixels { get; init; } = ImageDecoding.DefaultMaxPixels;

    /// <summary>Use what decodes of a truncated image file instead of reporting it as skipped (off by default).</summary>
    public bool AcceptIncompleteImages { get; init; }
}

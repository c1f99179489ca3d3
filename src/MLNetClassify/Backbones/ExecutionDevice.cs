namespace MLNetClassify.Backbones;

/// <summary>Where ONNX Runtime runs a backbone.</summary>
public enum DeviceKind
{
    /// <summary>The CPU execution provider.</summary>
    Cpu,

    /// <summary>The CUDA execution provider (NVIDIA GPUs; needs the GPU build of ONNX Runtime, CUDA 13 and cuDNN 9).</summary>
    Cuda,
}

/// <summary>A device to run on: <c>cpu</c>, or <c>cuda</c> / <c>cuda:N</c>.</summary>
/// <param name="Kind">CPU or CUDA.</param>
/// <param name="Id">CUDA device ordinal; 0 for the CPU.</param>
public readonly record struct ExecutionDevice(DeviceKind Kind, int Id = 0)
{
    /// <summary>The CPU.</summary>
    public static ExecutionDevice Cpu { get; } = new(DeviceKind.Cpu);

    /// <summary>CUDA device <paramref name="id"/>.</summary>
    public static ExecutionDevice Cuda(int id = 0) => new(DeviceKind.Cuda, id);

    /// <summary>Parses <c>cpu</c>, <c>cuda</c> or <c>cuda:N</c> (case-insensitive).</summary>
    /// <exception cref="FormatException">Anything else; the message lists the accepted forms.</exception>
    public static ExecutionDevice Parse(string text)
    {
        var t = (text ?? "").Trim().ToLowerInvariant();
        if (t == "cpu") return Cpu;
        if (t == "cuda" || t == "gpu") return Cuda();
        if (t.StartsWith("cuda:", StringComparison.Ordinal) && int.TryParse(t[5..], out int id) && id >= 0) return Cuda(id);
        throw new FormatException($"Unknown device '{text}': use cpu, cuda or cuda:N.");
    }

    /// <summary>Default images per ONNX Runtime call: batching gains little on a CPU and ~8× on a GPU.</summary>
    public int DefaultBatchSize => Kind == DeviceKind.Cuda ? 64 : 8;

    /// <inheritdoc/>
    public override string ToString() => Kind == DeviceKind.Cpu ? "cpu" : $"cuda:{Id}";
}

/// <summary>The device asked for could not be used, and the caller required it.</summary>
public sealed class DeviceUnavailableException(string message) : InvalidOperationException(message);

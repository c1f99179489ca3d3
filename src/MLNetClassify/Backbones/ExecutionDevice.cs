namespace MLNetClassify.Backbones;

/// <summary>Kinds of device a backbone can run on.</summary>
internal enum DeviceKind
{
    Cpu,
    Cuda,
}

/// <summary>Where a backbone runs: the CPU (the default value), or a CUDA GPU by index.</summary>
public readonly record struct ExecutionDevice
{
    private ExecutionDevice(DeviceKind kind, int id)
    {
        Kind = kind;
        Id = id;
    }

    internal DeviceKind Kind { get; }

    /// <summary>The GPU index for CUDA; 0 for the CPU.</summary>
    public int Id { get; }

    /// <summary>True for a CUDA device.</summary>
    public bool IsCuda => Kind == DeviceKind.Cuda;

    /// <summary>The CPU.</summary>
    public static ExecutionDevice Cpu { get; } = new(DeviceKind.Cpu, 0);

    /// <summary>CUDA GPU number <paramref name="id"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="id"/> is negative.</exception>
    public static ExecutionDevice Cuda(int id = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(id);
        return new(DeviceKind.Cuda, id);
    }

    /// <summary>Parses "cpu", "cuda" (or "gpu") and "cuda:N".</summary>
    /// <exception cref="FormatException">Anything else.</exception>
    public static ExecutionDevice Parse(string text)
    {
        var t = (text ?? "").Trim().ToLowerInvariant();
        if (t == "cpu") return Cpu;
        if (t == "cuda" || t == "gpu") return Cuda();
        if (t.StartsWith("cuda:", StringComparison.Ordinal) && int.TryParse(t[5..], out int id) && id >= 0) return Cuda(id);
        throw new FormatException($"Unknown device '{text}': use cpu, cuda or cuda:N.");
    }

    /// <summary>Images per ONNX Runtime call when the options say 0: 8 on the CPU, 64 on CUDA.</summary>
    public int DefaultBatchSize => IsCuda ? 64 : 8;

    /// <inheritdoc/>
    public override string ToString() => IsCuda ? $"cuda:{Id}" : "cpu";
}

/// <summary>The requested device cannot be used and falling back to the CPU was not allowed.</summary>
internal sealed class DeviceUnavailableException(string message) : InvalidOperationException(message);

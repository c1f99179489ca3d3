using Microsoft.ML.OnnxRuntime;

namespace MLNetClassify.Backbones;

/// <summary>ONNX Runtime sessions configured the way MLNetClassify runs backbones.</summary>
internal static class OrtSessions
{
    /// <summary>
    /// A session over <paramref name="model"/> on <paramref name="device"/>, or on the CPU when CUDA cannot start
    /// and <paramref name="requireDevice"/> is false (<paramref name="fallbackReason"/> then says why). On CUDA,
    /// <paramref name="tf32"/> lets convolutions and matrix products round float32 operands to TF32; the CPU ignores it.
    /// ORT_ENABLE_ALL matters on CPU: its NCHWc layout rewrite speeds ResNet18's convolutions up markedly.
    /// </summary>
    /// <exception cref="DeviceUnavailableException">CUDA was required and cannot start; the message names what is missing.</exception>
    /// <remarks>
    /// <paramref name="arena"/> false turns off ONNX Runtime's CPU memory arena and memory-pattern planning: buffers are
    /// allocated and freed per run instead of pooled at the largest size ever seen, which keeps the peak of a large
    /// forward-and-backward graph (a fine-tuned stage) down at a small cost in speed.
    /// </remarks>
    public static InferenceSession Create(byte[] model, int intraOpThreads, ExecutionDevice device, bool requireDevice, bool tf32,
        out ExecutionDevice actual, out string? fallbackReason, bool arena = true)
    {
        fallbackReason = null;
        actual = device;
        if (device.Kind == DeviceKind.Cuda && CudaSupport.WhyUnavailable(device.Id) is { } reason)
        {
            if (requireDevice)
                throw new DeviceUnavailableException($"CUDA device {device.Id} is not usable: {reason}.");
            fallbackReason = $"CUDA device {device.Id} is not usable ({reason}); running on the CPU";
            actual = ExecutionDevice.Cpu;
        }

        var options = new SessionOptions
        {
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
            IntraOpNumThreads = intraOpThreads,
            InterOpNumThreads = 1,
            EnableCpuMemArena = arena,
            EnableMemoryPattern = arena,
        };
        // Idle ORT threads would spin between batches on the cores the decoders need (a few per cent of throughput on 2 cores).
        options.AddSessionConfigEntry("session.intra_op.allow_spinning", "0");
        try
        {
            if (actual.Kind == DeviceKind.Cuda)
                CudaSupport.Append(options, actual.Id, tf32);
            return new InferenceSession(model, options);
        }
        finally
        {
            options.Dispose();
        }
    }
}

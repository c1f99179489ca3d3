using Microsoft.ML;

namespace MLNetClassify.Backbones;

/// <summary>Device choice for the stock ML.NET steps (ApplyOnnxModel, and models loaded with Model.Load).</summary>
internal static class ExecutionDevices
{
    /// <summary>
    /// The CUDA ordinal to give ML.NET for <paramref name="device"/>, or null for the CPU (with
    /// <paramref name="fallbackReason"/> saying why when CUDA was asked for).
    /// </summary>
    /// <exception cref="DeviceUnavailableException">CUDA was required and cannot start.</exception>
    public static int? GpuDeviceIdFor(ExecutionDevice device, bool requireDevice, out string? fallbackReason)
    {
        fallbackReason = null;
        if (device.Kind != DeviceKind.Cuda)
            return null;
        if (CudaSupport.WhyUnavailable(device.Id) is not { } reason)
            return device.Id;
        if (requireDevice)
            throw new DeviceUnavailableException($"CUDA device {device.Id} is not usable: {reason}.");
        fallbackReason = $"CUDA device {device.Id} is not usable ({reason}); running on the CPU";
        return null;
    }

    /// <summary>
    /// Sets <paramref name="mlContext"/>'s GpuDeviceId and FallbackToCpu so that ONNX steps of models loaded
    /// afterwards run on <paramref name="device"/>; returns why the CPU is used instead, or null.
    /// </summary>
    /// <exception cref="DeviceUnavailableException">CUDA was required and cannot start.</exception>
    public static string? Configure(MLContext mlContext, ExecutionDevice device, bool requireDevice)
    {
        ArgumentNullException.ThrowIfNull(mlContext);
        mlContext.GpuDeviceId = GpuDeviceIdFor(device, requireDevice, out var reason);
        mlContext.FallbackToCpu = !requireDevice;
        return reason;
    }
}

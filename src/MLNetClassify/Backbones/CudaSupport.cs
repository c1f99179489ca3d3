using System.Runtime.InteropServices;
using Microsoft.ML.OnnxRuntime;

namespace MLNetClassify.Backbones;

/// <summary>Whether ONNX Runtime's CUDA provider can start here, and if not, which library is missing.</summary>
/// <remarks>
/// Microsoft.ML.OnnxRuntime.Gpu.Linux 1.31.0's provider (libonnxruntime_providers_cuda.so) links against
/// CUDA 13 (libcudart.so.13, libcublas.so.13, libcublasLt.so.13, libcurand.so.10), loads cuDNN 9 and nvrtc 13
/// at run time, and needs the driver's libcuda.so.1 (see shared/gpu/README.md).
/// </remarks>
internal static class CudaSupport
{
    /// <summary>The libraries the CUDA provider needs, with what ships each.</summary>
    public static IReadOnlyList<(string Library, string From)> RequiredLibraries { get; } =
    [
        ("libcuda.so.1", "the NVIDIA driver"),
        ("libcudart.so.13", "CUDA 13 runtime"),
        ("libcublas.so.13", "CUDA 13 cuBLAS"),
        ("libcublasLt.so.13", "CUDA 13 cuBLASLt"),
        ("libcurand.so.10", "CUDA 13 cuRAND"),
        ("libcudnn.so.9", "cuDNN 9"),
    ];

    private const string ProviderLibrary = "libonnxruntime_providers_cuda.so";
    private static readonly Lock Gate = new();
    private static readonly Dictionary<int, string?> Probed = [];

    /// <summary>
    /// Null when CUDA device <paramref name="deviceId"/> can be used; otherwise why not, naming what is missing.
    /// The answer is cached per process.
    /// </summary>
    public static string? WhyUnavailable(int deviceId = 0)
    {
        lock (Gate)
        {
            if (!Probed.TryGetValue(deviceId, out var reason))
                Probed[deviceId] = reason = Probe(deviceId);
            return reason;
        }
    }

    /// <summary>Adds the CUDA provider to <paramref name="options"/>; throws with <see cref="WhyUnavailable"/>'s explanation.</summary>
    /// <param name="options">The session options to add it to.</param>
    /// <param name="deviceId">The CUDA device.</param>
    /// <param name="tf32">
    /// Let cuDNN and cuBLAS round float32 operands to TF32 on tensor cores (Ampere and later). ONNX Runtime turns it on
    /// unless told otherwise; off, CUDA computes in float32 like the CPU.
    /// </param>
    internal static void Append(SessionOptions options, int deviceId, bool tf32)
    {
        if (WhyUnavailable(deviceId) is { } reason)
            throw new DeviceUnavailableException(reason);
        AppendProvider(options, deviceId, tf32);
    }

    /// <summary>The one place the CUDA provider is added, with its options spelled out.</summary>
    private static void AppendProvider(SessionOptions options, int deviceId, bool tf32)
    {
        // The provider copies these options when it is appended, so they can go at once.
        using var cuda = new OrtCUDAProviderOptions();
        cuda.UpdateOptions(new Dictionary<string, string>
        {
            ["device_id"] = deviceId.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["use_tf32"] = tf32 ? "1" : "0",
        });
        options.AppendExecutionProvider_CUDA(cuda);
    }

    private static string? Probe(int deviceId)
    {
        // ONNX Runtime logs a failed provider load as an error line of its own; the explanation below says more.
        var env = OrtEnv.Instance();
        var level = env.EnvLogLevel;
        env.EnvLogLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_FATAL;
        try
        {
            using var options = new SessionOptions();
            AppendProvider(options, deviceId, tf32: false);
            return null;
        }
        catch (OnnxRuntimeException e) when (e.Message.Contains("not enabled in this build", StringComparison.Ordinal))
        {
            // The CPU package's ONNX Runtime refuses to create CUDA provider options with this message.
            return $"this build carries the CPU-only ONNX Runtime (NuGet Microsoft.ML.OnnxRuntime), which has no CUDA provider; " +
                   $"build with -p:OnnxRuntimeFlavor=Gpu (Microsoft.ML.OnnxRuntime.Gpu.Linux 1.31.0) to get {ProviderLibrary}";
        }
        catch (Exception e) when (e is OnnxRuntimeException or DllNotFoundException)
        {
            return Explain(e.Message);
        }
        finally
        {
            env.EnvLogLevel = level;
        }
    }

    private static string Explain(string ortMessage)
    {
        var provider = FindProvider();
        if (provider is null)
            return $"{ProviderLibrary} was not found next to the application; reference Microsoft.ML.OnnxRuntime.Gpu.Linux 1.31.0 ({ortMessage})";
        var missing = RequiredLibraries.Where(r => !NativeLibrary.TryLoad(r.Library, out _)).ToList();
        if (missing.Count > 0)
            return "CUDA libraries not found: " + string.Join(", ", missing.Select(m => $"{m.Library} ({m.From})")) +
                   "; install them or add their folders to LD_LIBRARY_PATH";
        try
        {
            NativeLibrary.Free(NativeLibrary.Load(provider));
        }
        catch (DllNotFoundException e)
        {
            return $"{ProviderLibrary} cannot be loaded: {e.Message}";
        }
        return $"the CUDA provider did not start: {ortMessage}";
    }

    private static string? FindProvider()
    {
        var candidates = new[]
        {
            Path.Combine(AppContext.BaseDirectory, ProviderLibrary),
            Path.Combine(AppContext.BaseDirectory, "runtimes", RuntimeInformation.RuntimeIdentifier, "native", ProviderLibrary),
            Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native", ProviderLibrary),
        };
        return candidates.FirstOrDefault(File.Exists);
    }
}

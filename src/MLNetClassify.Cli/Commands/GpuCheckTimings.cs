using System.Diagnostics;
using Microsoft.ML.OnnxRuntime;
using MLNetClassify.Backbones;

namespace MLNetClassify.Cli.Commands;

/// <summary>
/// The inference stage of <c>gpu-check</c> taken apart on one batch of pixels: the copy to the device, the network
/// alone (input and output already on the device), and the whole call the featurizer makes (host in, host out).
/// </summary>
internal static class GpuCheckTimings
{
    /// <summary>Median milliseconds per batch of each part.</summary>
    /// <param name="CopyInMs">Host → device copy of the batch (ONNX Runtime's I/O binding copies a host tensor when it is bound).</param>
    /// <param name="ModelMs">The network alone, input and output on the device.</param>
    /// <param name="RunMs">One <c>Run</c> with the batch on the host and the features back on the host, as the featurizer calls it.</param>
    internal sealed record Parts(double CopyInMs, double ModelMs, double RunMs);

    /// <summary>Times each part on a fresh session of <paramref name="backbone"/>'s featurizer graph.</summary>
    /// <exception cref="OnnxRuntimeException">ONNX Runtime failed (the caller reports it and goes on).</exception>
    public static Parts Measure(BackboneSpec backbone, ExecutionDevice device, bool tf32, int batch)
    {
        using var session = OrtSessions.Create(FeaturizerGraph.Build(backbone), Environment.ProcessorCount, device, requireDevice: true, tf32, out _, out _);
        int side = backbone.ResizeSize;
        var pixels = new float[batch * 3 * side * side];
        var random = new Random(1);
        for (int i = 0; i < pixels.Length; i++) pixels[i] = random.Next(256);
        using var input = OrtValue.CreateTensorValueFromMemory(pixels, [batch, 3, side, side]);
        using var runOptions = new RunOptions();
        string[] inputs = [FeaturizerGraph.InputName], outputs = [FeaturizerGraph.OutputName];

        double run = MedianMs(() =>
        {
            using var result = session.Run(runOptions, inputs, [input], outputs);
        });
        using var binding = session.CreateIoBinding();
        double copyIn = MedianMs(() => binding.BindInput(FeaturizerGraph.InputName, input));
        using var memory = device.IsCuda
            ? new OrtMemoryInfo(OrtMemoryInfo.allocatorCUDA, OrtAllocatorType.DeviceAllocator, device.Id, OrtMemType.Default)
            : new OrtMemoryInfo(OrtMemoryInfo.allocatorCPU, OrtAllocatorType.DeviceAllocator, 0, OrtMemType.Default);
        binding.BindOutputToDevice(FeaturizerGraph.OutputName, memory);
        double model = MedianMs(() =>
        {
            session.RunWithBinding(runOptions, binding);
            binding.SynchronizeBoundOutputs();
        });
        return new Parts(copyIn, model, run);
    }

    /// <summary>Median of timed repetitions after three untimed ones: at least 5, at most 50, about half a second in all.</summary>
    private static double MedianMs(Action action)
    {
        for (int i = 0; i < 3; i++) action();
        var times = new List<double>();
        var total = Stopwatch.StartNew();
        while (times.Count < 5 || (times.Count < 50 && total.Elapsed.TotalSeconds < 0.5))
        {
            long start = Stopwatch.GetTimestamp();
            action();
            times.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
        }
        times.Sort();
        return times[times.Count / 2];
    }
}

using System.Diagnostics;
using MLNetClassify.Tuning;

namespace MLNetClassify.Benchmarks;

/// <summary>
/// Time of one training step (forward + backward in one ONNX graph, no parameter update) of ResNet18's last stage
/// + GAP + Gemm head, per image, on the stage-3 maps of 224-pixel images (256×14×14): ... -- tuninglab [BATCH=32] [STEPS=5]
/// </summary>
internal static class TuningLab
{
    public static int Run(int batch, int steps)
    {
        const int classes = 10;
        var rng = new Random(1);
        var head = Enumerable.Range(0, classes * BackboneTails.ResNet18Stage4Channels).Select(_ => (float)((rng.NextDouble() * 2 - 1) * 0.05)).ToArray();
        var tail = TailGraph.FromModel(BackboneTails.ResNet18LastStage(head, new float[classes]), [BackboneTails.ResNet18Stage3Channels, 14, 14]);
        // Real stage-3 activations of the generated scenes, repeated to fill the batch.
        var maps = BackboneTails.ResNet18Stage3Maps(Math.Min(batch, 16));
        int per = BackboneTails.ResNet18Stage3Channels * 14 * 14;
        var x = new float[batch * per];
        for (int i = 0; i < batch; i++) maps.AsSpan(i % (maps.Length / per) * per, per).CopyTo(x.AsSpan(i * per));
        var labels = Enumerable.Range(0, batch).Select(i => i % classes).ToArray();

        using var trainer = new TailTrainer(tail, new TailTrainingOptions { BatchSize = batch });
        trainer.StepLogits(x, labels); // warm-up: session planning and first allocations
        var times = new List<double>();
        for (int s = 0; s < steps; s++)
        {
            var watch = Stopwatch.StartNew();
            trainer.StepLogits(x, labels);
            times.Add(watch.Elapsed.TotalMilliseconds);
        }
        times.Sort();
        double median = times[times.Count / 2];
        Console.WriteLine($"CPU: {CpuName()} ({Environment.ProcessorCount} logical cores), ONNX Runtime CPU provider, {Environment.ProcessorCount} intra-op threads");
        Console.WriteLine($"ResNet18 last stage (CNTK export: 3 BasicBlocks, BN folded) + GAP + Gemm({classes}), input {batch}x256x14x14");
        Console.WriteLine($"forward+backward step: median {median:F0} ms over {steps} steps (min {times[0]:F0}, max {times[^1]:F0}); {median / batch:F1} ms per image");
        return 0;
    }

    internal static string CpuName()
    {
        const string path = "/proc/cpuinfo";
        var line = File.Exists(path) ? File.ReadLines(path).FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal)) : null;
        return line is null ? "unknown CPU" : line[(line.IndexOf(':') + 1)..].Trim();
    }
}

using System.Diagnostics;
using Microsoft.ML.OnnxRuntime;
using MLNetClassify.Backbones;

namespace MLNetClassify.Benchmarks;

/// <summary>
/// Raw ONNX Runtime throughput of the featurizer graph on the CPU, two ways in one run: one session with one intra-op
/// thread per core called by one thread, against one single-threaded session called by one thread per core (each
/// call a whole batch). ... -- ortthreads [int8] [BATCH=8] [SECONDS=8]
/// </summary>
internal static class OrtThreadingLab
{
    public static int Run(bool int8, int batch, double seconds)
    {
        var spec = int8 ? BackboneCatalog.ResNet18 with { Precision = ComputePrecision.Int8 } : BackboneCatalog.ResNet18;
        var graph = FeaturizerGraph.Build(spec);
        int cores = Environment.ProcessorCount;
        var input = new float[batch * 3 * 224 * 224];
        for (int i = 0; i < input.Length; i++) input[i] = (i * 7919 % 255);
        for (int round = 0; round < 2; round++)
        {
            foreach (var (intra, callers) in new[] { (cores, 1), (1, cores) })
            {
                using var session = OrtSessions.Create(graph, intra, ExecutionDevice.Cpu, false, tf32: false, out _, out _);
                long images = 0;
                var clock = Stopwatch.StartNew();
                var threads = Enumerable.Range(0, callers).Select(_ => new Thread(() =>
                {
                    var mine = (float[])input.Clone();
                    using var run = new RunOptions();
                    Once(session, mine, batch, run); // warm
                    while (clock.Elapsed.TotalSeconds < seconds)
                    {
                        Once(session, mine, batch, run);
                        Interlocked.Add(ref images, batch);
                    }
                })).ToList();
                threads.ForEach(t => t.Start());
                threads.ForEach(t => t.Join());
                Console.WriteLine($"{(int8 ? "int8" : "float32")} batch {batch}: {intra} intra-op thread(s) × {callers} caller(s): {images / clock.Elapsed.TotalSeconds:0.0} img/s");
            }
        }
        return 0;
    }

    private static void Once(InferenceSession session, float[] input, int batch, RunOptions run)
    {
        using var value = OrtValue.CreateTensorValueFromMemory(input, [batch, 3, 224, 224]);
        using var outputs = session.Run(run, [FeaturizerGraph.InputName], [value], [FeaturizerGraph.OutputName]);
    }
}

/// <summary>
/// The batched featurizer over a folder, the CPU default (a worker per core) against the decode-then-infer pipeline
/// (set by a thread count), alternating, in one process: ... -- featurizemodes DIR [int8] [ROUNDS=3] [REPEAT=1]
/// </summary>
internal static class FeaturizeModes
{
    public static int Run(string folder, bool int8, int rounds, int repeat)
    {
        var files = Directory.EnumerateFiles(folder, "*.*", SearchOption.AllDirectories)
            .Where(f => MLNetClassify.Images.ImageDecoder.Extensions.Contains(Path.GetExtension(f))).Order(StringComparer.Ordinal).ToList();
        var list = Enumerable.Repeat(files, repeat).SelectMany(f => f).ToList();
        var spec = int8 ? BackboneCatalog.ResNet18 with { Precision = ComputePrecision.Int8 } : BackboneCatalog.ResNet18;
        var ml = new Microsoft.ML.MLContext(1);
        int cores = Environment.ProcessorCount;
        var modes = new (string Name, Featurization.FeaturizerOptions Options)[]
        {
            ("workers (default)", new()),
            ("pipeline", new() { InferenceThreads = cores }),
        };
        foreach (var (_, options) in modes)
        {
            using var warm = new Featurization.ImageFeaturizer(ml, spec, options);
            warm.Featurize(list.Take(16).ToList());
        }
        var totals = modes.ToDictionary(m => m.Name, _ => 0.0);
        for (int round = 0; round < rounds; round++)
            foreach (var (name, options) in modes)
            {
                using var featurizer = new Featurization.ImageFeaturizer(ml, spec, options);
                var clock = Stopwatch.StartNew();
                featurizer.Featurize(list);
                double rate = list.Count / clock.Elapsed.TotalSeconds;
                totals[name] += rate;
                Console.WriteLine($"round {round + 1}, {name}: {rate:F1} img/s");
            }
        foreach (var (name, total) in totals)
            Console.WriteLine($"{(int8 ? "int8" : "float32")}, {list.Count} images, {name}: mean {total / rounds:F1} img/s");
        return 0;
    }
}

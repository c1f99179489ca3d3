using System.Diagnostics;
using System.Numerics.Tensors;
using Microsoft.ML;
using Microsoft.ML.OnnxRuntime;
using MLNetClassify.Backbones;
using MLNetClassify.Data;
using MLNetClassify.Heads;
using MLNetClassify.Images;
using MLNetClassify.Onnx;

namespace MLNetClassify.Benchmarks;

/// <summary>
/// int8 quantization choices against the default float path on every shared set: per-convolution sensitivity
/// (feature error with only that convolution quantized) and test accuracy of the default head trained on each
/// variant's features. Pixels are decoded once and kept as bytes; float features are cached under the work folder.
/// </summary>
internal static class Int8Lab
{
    private sealed record SetPixels(string Name, byte[][] Pixels, int[] Labels, bool[] IsTest, int Classes);

    public static int Run(string dataRoot, string work, string[] modes)
    {
        Directory.CreateDirectory(work);
        if (modes.Length == 1 && modes[0].StartsWith("peak:", StringComparison.Ordinal))
        {
            // Peak memory of building one featurizer graph, nothing else in the process.
            var precision = Enum.Parse<ComputePrecision>(modes[0][5..], ignoreCase: true);
            var built = FeaturizerGraph.Build(BackboneCatalog.ResNet18 with { Precision = precision });
            using var self = Process.GetCurrentProcess();
            Console.WriteLine($"{precision}: graph {built.Length / 1e6:F1} MB, peak RSS {self.PeakWorkingSet64 / 1048576.0:F0} MiB");
            return 0;
        }
        var sets = new[] { "intel-scenes", "cifar10-100", "brick-cracks", "flowers-200", "mnist-200" }
            .Select(name => Load(dataRoot, name)).ToList();
        var floatGraph = FeaturizerGraph.Build(BackboneCatalog.ResNet18);
        var floatFeatures = sets.ToDictionary(s => s.Name, s => CachedFeatures(Path.Combine(work, $"float-{s.Name}.bin"), floatGraph, s));
        foreach (var s in sets)
            Console.WriteLine($"float {s.Name}: accuracy {Accuracy(s, floatFeatures[s.Name]):F4}");

        var full = BackboneCatalog.ResNet18 with { Weights = WeightStorage.Float32 };
        var fullGraph = FeaturizerGraph.Build(full);
        var calibration = Int8Calibration.Pixels(224);
        if (modes.Contains("realcalib"))
        {
            // Training images of every set, evenly spread: what calibrating on the user's own images would see.
            var picked = sets.SelectMany(s => s.Pixels.Where((_, i) => !s.IsTest[i] && i % 97 == 5).Take(16)).ToArray();
            calibration = picked.SelectMany(p => p.Select(b => (float)b)).ToArray();
            Console.WriteLine($"calibrating on {picked.Length} training images");
        }
        var simplified = Int8Quantizer.Simplify(fullGraph).Graph;
        int convCount = simplified.Node.Count(n => n.OpType == "Conv");
        bool mse = modes.Contains("mse");
        Console.WriteLine($"{convCount} convolutions");

        if (modes.Contains("describe"))
        {
            // The simplified graph's nodes, one line each: op, inputs (initializers as their shapes) → outputs.
            var shapes = simplified.Initializer.ToDictionary(t => t.Name, t => "[" + string.Join(",", t.Dims) + "]");
            foreach (var n in simplified.Node)
                Console.WriteLine($"{n.OpType} {string.Join(" ", n.Input.Select(i => shapes.TryGetValue(i, out var s) ? s : i))} -> {string.Join(" ", n.Output)}");
        }
        if (modes.Contains("sensitivity"))
        {
            // Feature error on a subset of every set with one convolution quantized.
            var probe = sets.SelectMany(s => s.Pixels.Where((_, i) => i % 20 == 0)).ToArray();
            var reference = Featurize(floatGraph, probe);
            for (int c = 0; c < convCount; c++)
            {
                var others = Enumerable.Range(0, convCount).Where(i => i != c).ToHashSet();
                var graph = Int8Quantizer.Quantize(fullGraph, calibration, 224, new Int8Options(others) { ClipSearch = mse });
                Console.WriteLine($"conv {c}: relative error {RelativeError(reference, Featurize(graph, probe)):F4}");
            }
        }
        if (modes.Contains("auto"))
        {
            var clock = Stopwatch.StartNew();
            var graph = Int8Quantizer.Quantize(fullGraph, calibration, 224, Int8Options.Sensitive with { ClipSearch = mse }, out var chosen);
            Console.WriteLine($"auto: float convolutions {string.Join(",", chosen.Order())}, quantized in {clock.Elapsed.TotalSeconds:F1} s");
            Report("auto", graph, sets, floatFeatures);
        }
        foreach (var mode in modes.Where(m => m.StartsWith("float:", StringComparison.Ordinal)))
        {
            var floats = mode[6..].Split(',', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse).ToHashSet();
            var graph = Int8Quantizer.Quantize(fullGraph, calibration, 224, new Int8Options(floats) { ClipSearch = mse });
            Report(mode, graph, sets, floatFeatures);
        }
        return 0;
    }

    private static void Report(string name, byte[] graph, List<SetPixels> sets, Dictionary<string, FeatureMatrix> reference)
    {
        double totalDrop = 0, cvDrop = 0; int totalTest = 0, cvTotal = 0;
        foreach (var s in sets)
        {
            var clock = Stopwatch.StartNew();
            var features = Featurize(graph, s.Pixels);
            double rate = s.Pixels.Length / clock.Elapsed.TotalSeconds;
            double a = Accuracy(s, features), b = Accuracy(s, reference[s.Name]);
            int tests = s.IsTest.Count(t => t);
            totalDrop += (b - a) * tests; totalTest += tests;
            int ca = CrossValidatedCorrect(s, features), cb = CrossValidatedCorrect(s, reference[s.Name]);
            cvDrop += cb - ca; cvTotal += s.Labels.Length;
            Console.WriteLine($"{name} {s.Name}: accuracy {a:F4} (float {b:F4}, {100 * (a - b):+0.00;-0.00} pt), 5-fold {ca}/{s.Labels.Length} (float {cb}, {100.0 * (ca - cb) / s.Labels.Length:+0.00;-0.00} pt), feature error {RelativeError(reference[s.Name], features):F4}, {rate:F0} img/s");
        }
        Console.WriteLine($"{name} pooled drop {100 * totalDrop / totalTest:F2} pt over {totalTest} test images, 5-fold {100 * cvDrop / cvTotal:F2} pt over {cvTotal}; ORT batch 1: {BatchOneMs(graph):F1} ms");
    }

    internal static double BatchOneMs(byte[] graph)
    {
        using var options = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL };
        using var session = new InferenceSession(graph, options);
        using var runOptions = new RunOptions();
        using var value = OrtValue.CreateTensorValueFromMemory(new float[3 * 224 * 224], [1, 3, 224, 224]);
        var times = new List<double>();
        for (int i = 0; i < 45; i++)
        {
            var clock = Stopwatch.StartNew();
            session.Run(runOptions, [FeaturizerGraph.InputName], [value], [FeaturizerGraph.OutputName]).Dispose();
            if (i >= 5) times.Add(clock.Elapsed.TotalMilliseconds);
        }
        times.Sort();
        return times[times.Count / 2];
    }

    private static SetPixels Load(string root, string name)
    {
        var split = DataSplit.ReadFile(Path.Combine(root, "splits", name + ".tsv"), Path.Combine(root, name));
        var labels = split.Train.Concat(split.Test).Select(i => i.Label).Distinct().Order(StringComparer.Ordinal).ToList();
        var images = split.Train.Select(i => (i, false)).Concat(split.Test.Select(i => (i, true))).ToList();
        var pixels = new byte[images.Count][];
        using var readers = new PixelReaders(new MLContext(1), 224);
        Parallel.For(0, images.Count, k =>
        {
            var buffer = new float[3 * 224 * 224];
            if (readers.TryRead(ImageSource.FromFile(images[k].i.ImagePath), buffer) is { } error)
                throw new InvalidDataException($"{images[k].i.ImagePath}: {error}");
            pixels[k] = buffer.Select(v => (byte)v).ToArray();
        });
        return new SetPixels(name, pixels, images.Select(p => labels.IndexOf(p.i.Label)).ToArray(), images.Select(p => p.Item2).ToArray(), labels.Count);
    }

    private static FeatureMatrix CachedFeatures(string path, byte[] graph, SetPixels set)
    {
        if (File.Exists(path))
        {
            var bytes = File.ReadAllBytes(path);
            var values = new float[bytes.Length / 4];
            Buffer.BlockCopy(bytes, 0, values, 0, bytes.Length);
            return new FeatureMatrix(values, set.Pixels.Length, values.Length / set.Pixels.Length);
        }
        var features = Featurize(graph, set.Pixels);
        var raw = new byte[features.Values.Length * 4];
        Buffer.BlockCopy(features.Values, 0, raw, 0, raw.Length);
        File.WriteAllBytes(path, raw);
        return features;
    }

    internal static FeatureMatrix Featurize(byte[] graph, byte[][] pixels)
    {
        using var options = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL, IntraOpNumThreads = Environment.ProcessorCount };
        using var session = new InferenceSession(graph, options);
        using var runOptions = new RunOptions();
        const int batch = 8, per = 3 * 224 * 224;
        float[]? values = null;
        int dims = 0;
        var input = new float[batch * per];
        for (int start = 0; start < pixels.Length; start += batch)
        {
            int n = Math.Min(batch, pixels.Length - start);
            for (int k = 0; k < n; k++)
                for (int j = 0; j < per; j++)
                    input[k * per + j] = pixels[start + k][j];
            using var value = OrtValue.CreateTensorValueFromMemory(input.AsMemory(0, n * per).ToArray(), [n, 3, 224, 224]);
            using var results = session.Run(runOptions, [FeaturizerGraph.InputName], [value], [FeaturizerGraph.OutputName]);
            var data = results[0].GetTensorDataAsSpan<float>();
            dims = data.Length / n;
            values ??= new float[pixels.Length * dims];
            data.CopyTo(values.AsSpan(start * dims));
        }
        return new FeatureMatrix(values!, pixels.Length, dims);
    }

    private static double Accuracy(SetPixels set, FeatureMatrix features)
    {
        var train = Enumerable.Range(0, set.Labels.Length).Where(i => !set.IsTest[i]).ToList();
        var test = Enumerable.Range(0, set.Labels.Length).Where(i => set.IsTest[i]).ToList();
        var head = new SoftmaxHeadTrainer().Train(features.Select(train), train.Select(i => set.Labels[i]).ToList(), set.Classes).Model;
        int right = 0;
        var scores = new float[set.Classes];
        foreach (int i in test)
        {
            head.Logits(features.Row(i), scores);
            if (TensorPrimitives.IndexOfMax(scores) == set.Labels[i]) right++;
        }
        return right / (double)test.Count;
    }

    /// <summary>Images classified right when each of 5 folds (every 5th image of each class) is scored by a head trained on the rest.</summary>
    private static int CrossValidatedCorrect(SetPixels set, FeatureMatrix features)
    {
        var fold = new int[set.Labels.Length];
        var seen = new int[set.Classes];
        for (int i = 0; i < fold.Length; i++) fold[i] = seen[set.Labels[i]]++ % 5;
        int right = 0;
        var scores = new float[set.Classes];
        for (int f = 0; f < 5; f++)
        {
            var train = Enumerable.Range(0, fold.Length).Where(i => fold[i] != f).ToList();
            var head = new SoftmaxHeadTrainer().Train(features.Select(train), train.Select(i => set.Labels[i]).ToList(), set.Classes).Model;
            for (int i = 0; i < fold.Length; i++)
            {
                if (fold[i] != f) continue;
                head.Logits(features.Row(i), scores);
                if (TensorPrimitives.IndexOfMax(scores) == set.Labels[i]) right++;
            }
        }
        return right;
    }

    private static double RelativeError(FeatureMatrix reference, FeatureMatrix other)
    {
        double sum = 0;
        for (int i = 0; i < reference.Rows; i++)
        {
            var a = reference.Row(i);
            var b = other.Row(i);
            var diff = new float[a.Length];
            TensorPrimitives.Subtract(a, b, diff);
            sum += TensorPrimitives.Norm(diff) / Math.Max(TensorPrimitives.Norm(a), 1e-12f);
        }
        return sum / reference.Rows;
    }
}

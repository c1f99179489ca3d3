using System.Diagnostics;
using Microsoft.ML;
using Microsoft.ML.OnnxRuntime;
using MLNetClassify.Backbones;
using MLNetClassify.Data;
using MLNetClassify.Heads;
using MLNetClassify.Images;
using MLNetClassify.Onnx;

namespace MLNetClassify.Benchmarks;

/// <summary>Accuracy options measured on validation parts of the training rows and on test.</summary>
internal static class AccuracyLab
{
    /// <summary>Root-mean-square of each pooled piece over the generated calibration scenes.</summary>
    public static int CalibrationRms()
    {
        var spec = BackboneCatalog.ResNet18;
        var pixels = Int8Calibration.Pixels(224);
        int n = pixels.Length / (3 * 224 * 224);
        using var session = new InferenceSession(FeaturizerGraph.BuildPieces(spec));
        using var input = OrtValue.CreateTensorValueFromMemory(pixels, [n, 3, 224, 224]);
        using var results = session.Run(new RunOptions(), [FeaturizerGraph.InputName], [input], FeaturizerGraph.PieceNames);
        for (int p = 0; p < 4; p++)
        {
            var v = results[p].GetTensorDataAsSpan<float>().ToArray();
            Console.WriteLine($"{FeaturizerGraph.PieceNames[p]}: rms {Math.Sqrt(v.Average(x => (double)x * x)):F3} over {n} images");
        }
        return 0;
    }

    public static int Nodes()
    {
        var spec = BackboneCatalog.ResNet18;
        var model = FeaturizerGraph.ReadModel(spec.ResolveModelFile(), spec.Name);
        var names = model.Graph.Node.Where(n => n.OpType is "Relu").Select(n => n.Output[0]).ToList();
        var shapes = Backbone.Probe(model, spec.InputNode!, TensorLayout.Nchw, 224, names);
        foreach (var n in names)
            Console.WriteLine($"{n} [{string.Join(",", shapes[n])}]");
        return 0;
    }

    /// <summary>
    /// Pooled pieces (avg/max of the last and the mid map) of every image of a split, for each view, written to
    /// WORK/SET.VIEW.f32 (rows in split order: train rows, then test rows) and WORK/SET.labels.
    /// Views: orig, flip, crop1..cropK (random resized crops) at 224; orig448.
    /// </summary>
    public static int Featurize(string dataRoot, string set, string work, int crops)
    {
        Directory.CreateDirectory(work);
        var split = DataSplit.ReadFile(Path.Combine(dataRoot, "splits", set + ".tsv"), Path.Combine(dataRoot, set));
        var rows = split.Train.Concat(split.Test).ToList();
        File.WriteAllLines(Path.Combine(work, set + ".labels"),
            rows.Select((r, i) => $"{(i < split.Train.Count ? "train" : "test")}\t{r.Label}\t{r.ImagePath}"));
        var views = new List<(string Name, PlaneView? View, int Size)> { ("orig", PlaneView.Identity, 224), ("flip", PlaneView.Flipped, 224) };
        for (int k = 1; k <= crops; k++) views.Add(($"crop{k}", null, 224));
        views.Add(("orig448", PlaneView.Identity, 448));
        foreach (var group in views.GroupBy(v => v.Size))
        {
            int size = group.Key;
            var spec = BackboneCatalog.ResNet18AtSize(size);
            using var session = new InferenceSession(FeaturizerGraph.BuildPieces(spec), new SessionOptions { IntraOpNumThreads = Environment.ProcessorCount });
            using var readers = new PixelReaders(new MLContext(1), size);
            int plane = 3 * size * size, batch = 8;
            var outputs = group.ToDictionary(v => v.Name, v => new List<float[]>[4].Select(_ => new List<float[]>()).ToArray());
            var clock = Stopwatch.StartNew();
            var pixels = new float[batch * plane];
            var viewed = new float[batch * plane];
            for (int start = 0; start < rows.Count; start += batch)
            {
                int n = Math.Min(batch, rows.Count - start);
                Parallel.For(0, n, i =>
                {
                    var error = readers.TryRead(ImageSource.FromFile(rows[start + i].ImagePath), pixels.AsSpan(i * plane, plane));
                    if (error is not null) throw new InvalidDataException($"{rows[start + i].ImagePath}: {error}");
                });
                foreach (var (name, view, _) in group)
                {
                    Parallel.For(0, n, i =>
                    {
                        var v = view ?? PlaneView.Random(1, (ulong)(start + i), int.Parse(name[4..]));
                        v.Apply(pixels.AsSpan(i * plane, plane), viewed.AsSpan(i * plane, plane), size);
                    });
                    using var input = OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, new Memory<float>(viewed, 0, n * plane), [n, 3, size, size]);
                    using var results = session.Run(new RunOptions(), [FeaturizerGraph.InputName], [input], FeaturizerGraph.PieceNames);
                    for (int p = 0; p < 4; p++)
                    {
                        var values = results[p].GetTensorDataAsSpan<float>();
                        int d = values.Length / n;
                        for (int i = 0; i < n; i++)
                            outputs[name][p].Add(values.Slice(i * d, d).ToArray());
                    }
                }
            }
            Console.WriteLine($"{set} @{size}: {rows.Count} images × {group.Count()} views in {clock.Elapsed.TotalSeconds:F0} s");
            foreach (var (name, pieces) in outputs)
            {
                using var w = new BinaryWriter(File.Create(Path.Combine(work, $"{set}.{name}.f32")));
                w.Write(rows.Count);
                foreach (var piece in pieces) w.Write(piece[0].Length);
                for (int r = 0; r < rows.Count; r++)
                    foreach (var piece in pieces)
                        foreach (var f in piece[r]) w.Write(f);
            }
        }
        return 0;
    }

    private sealed record Pieces(int Rows, int[] Dims, float[] Values);

    private static Pieces Load(string path)
    {
        using var r = new BinaryReader(File.OpenRead(path));
        int rows = r.ReadInt32();
        var dims = Enumerable.Range(0, 4).Select(_ => r.ReadInt32()).ToArray();
        var bytes = r.ReadBytes(rows * dims.Sum() * 4);
        var values = new float[rows * dims.Sum()];
        Buffer.BlockCopy(bytes, 0, values, 0, bytes.Length);
        return new Pieces(rows, dims, values);
    }

    private static readonly string[] PieceKeys = ["avg", "max", "midavg", "midmax"];

    /// <summary>
    /// Each config: "feat=avg+max+midavg[+avg448...]; train=orig+flip+crop1; tta=orig+flip; ls=0.1; l2=0.01; lr=0.001".
    /// Prints per set: 5-fold cross-validation on the training rows (pooled accuracy and log-loss), then test.
    /// </summary>
    public static int Heads(string work, string[] sets, string[] configs)
    {
        Console.WriteLine("| set | config | CV acc | CV log-loss | test acc | test log-loss | s |");
        Console.WriteLine("|---|---|---|---|---|---|---|");
        foreach (var set in sets)
        {
            var meta = File.ReadAllLines(Path.Combine(work, set + ".labels")).Select(l => l.Split('\t')).ToArray();
            var classNames = meta.Select(m => m[1]).Distinct().Order(StringComparer.Ordinal).ToList();
            var labels = meta.Select(m => classNames.IndexOf(m[1])).ToArray();
            var trainRows = Enumerable.Range(0, meta.Length).Where(i => meta[i][0] == "train").ToArray();
            var testRows = Enumerable.Range(0, meta.Length).Where(i => meta[i][0] == "test").ToArray();
            var cache = new Dictionary<string, Pieces>();
            Pieces View(string v) => cache.TryGetValue(v, out var p) ? p : cache[v] = Load(Path.Combine(work, $"{set}.{v}.f32"));

            foreach (var config in configs)
            {
                var clock = Stopwatch.StartNew();
                var kv = config.Split(';', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
                    .Select(p => p.Split('=')).ToDictionary(p => p[0], p => p[1]);
                var feat = kv.GetValueOrDefault("feat", "avg").Split('+');
                var trainViews = kv.GetValueOrDefault("train", "orig").Split('+');
                var ttaViews = kv.GetValueOrDefault("tta", "orig").Split('+');
                var options = new SoftmaxHeadOptions
                {
                    LabelSmoothing = float.Parse(kv.GetValueOrDefault("ls", "0")),
                    L2 = float.Parse(kv.GetValueOrDefault("l2", "0.01")),
                    LearningRate = float.Parse(kv.GetValueOrDefault("lr", "0.001")),
                    Standardize = kv.GetValueOrDefault("std", "0") == "1",
                    Epochs = int.Parse(kv.GetValueOrDefault("epochs", "100")),
                };
                // Features of row i in view v: the named pieces, "448" ones from the 448-pixel pass of the same view.
                bool sym = kv.GetValueOrDefault("sym", "0") == "1";
                float midScale = float.Parse(kv.GetValueOrDefault("midscale", "1"));
                bool bal = kv.GetValueOrDefault("bal", "0") == "1";
                // bal: each piece scaled so its root-mean-square over all rows equals the first piece's (fixed per set, label-free).
                var scales = new double[feat.Length];
                if (bal)
                {
                    double Rms(int piece) => Math.Sqrt(trainRows.Select(i => RawPiece("orig", i, piece)).SelectMany(x => x).Average(x => (double)x * x));
                    double first = Rms(0);
                    for (int f = 0; f < feat.Length; f++) scales[f] = first / Rms(f);
                }
                else Array.Fill(scales, 1.0);
                float[] RawPiece(string v, int i, int fi)
                {
                    var f = feat[fi];
                    bool big = f.EndsWith("448");
                    var p = View(big ? v + "448" : v);
                    int k = Array.IndexOf(PieceKeys, big ? f[..^3] : f);
                    int width = p.Dims.Sum(), offset = p.Dims.Take(k).Sum();
                    var values = p.Values.AsSpan(i * width + offset, p.Dims[k]).ToArray();
                    if (k == 2 && midScale != 1f)
                        for (int j = 0; j < values.Length; j++) values[j] *= midScale;
                    return values;
                }
                string norm = kv.GetValueOrDefault("norm", "none");
                float[] Row(string v, int i)
                {
                    var x = Row0(v, i);
                    if (norm == "none") return x;
                    if (norm.Contains("sqrt"))
                        for (int j = 0; j < x.Length; j++) x[j] = MathF.Sqrt(Math.Max(x[j], 0));
                    if (norm.Contains("l2"))
                    {
                        double n = Math.Sqrt(x.Sum(t => (double)t * t));
                        float scale = (float)(Math.Sqrt(x.Length) / Math.Max(n, 1e-12));
                        for (int j = 0; j < x.Length; j++) x[j] *= scale;
                    }
                    return x;
                }
                float[] Row0(string v, int i)
                {
                    if (sym && v == "orig")
                    {
                        var a = Row1("orig", i);
                        var b = Row1("flip", i);
                        return a.Zip(b, (x, y) => (x + y) / 2).ToArray();
                    }
                    return Row1(v, i);
                }
                float[] Row1(string v, int i)
                {
                    var parts = new List<float>();
                    for (int fi = 0; fi < feat.Length; fi++)
                        parts.AddRange(RawPiece(v, i, fi).Select(x => (float)(x * scales[fi])));
                    return [.. parts];
                }
                (FeatureMatrix X, int[] Y) Matrix(int[] rows, string[] views)
                {
                    var list = views.SelectMany(v => rows.Select(i => Row(v, i))).ToList();
                    int d = list[0].Length;
                    return (new FeatureMatrix(list.SelectMany(x => x).ToArray(), list.Count, d), views.SelectMany(_ => rows.Select(i => labels[i])).ToArray());
                }
                (double Correct, double Loss, int N) Score(int[] fit, int[] evaluate)
                {
                    var (x, y) = Matrix(fit, trainViews);
                    var head = new SoftmaxHeadTrainer(options).Train(x, y, classNames.Count, views: trainViews.Length).Model;
                    int correct = 0;
                    double loss = 0;
                    foreach (int i in evaluate)
                    {
                        var p = new double[classNames.Count];
                        foreach (var v in ttaViews)
                        {
                            var q = head.Predict(Row(v, i));
                            for (int k = 0; k < p.Length; k++) p[k] += q[k] / ttaViews.Length;
                        }
                        if (Array.IndexOf(p, p.Max()) == labels[i]) correct++;
                        loss -= Math.Log(Math.Max(p[labels[i]], 1e-15));
                    }
                    return (correct, loss, evaluate.Length);
                }
                // 5 folds over the training rows, stratified: within each class, rows shuffled with a fixed seed, fold = position mod 5.
                var fold = new int[meta.Length];
                var rng = new Random(7);
                foreach (var cls in trainRows.GroupBy(i => labels[i]))
                {
                    var members = cls.ToArray();
                    rng.Shuffle(members);
                    for (int j = 0; j < members.Length; j++) fold[members[j]] = j % 5;
                }
                double cvCorrect = 0, cvLoss = 0;
                for (int f = 0; f < 5; f++)
                {
                    var (c, l, _) = Score(trainRows.Where(i => fold[i] != f).ToArray(), trainRows.Where(i => fold[i] == f).ToArray());
                    cvCorrect += c;
                    cvLoss += l;
                }
                var (tc, tl, tn) = Score(trainRows, testRows);
                Console.WriteLine($"| {set} | {config} | {cvCorrect / trainRows.Length:F3} | {cvLoss / trainRows.Length:F3} | {tc / tn:F3} | {tl / tn:F3} | {clock.Elapsed.TotalSeconds:F0} |");
            }
        }
        return 0;
    }
}

using System.Collections.Concurrent;
using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using MLNetClassify.Onnx;
using Onnx;

namespace MLNetClassify.Backbones;

/// <summary>
/// Builds the ONNX graphs a backbone runs as: RGB planes 0–255 (ML.NET ExtractPixels' layout) in, preprocessing,
/// the backbone cut at its last feature map, then either global average pooling to a flat N×C "Features"
/// tensor (<see cref="Build"/>) or the unpooled N×C×H×W "FeatureMap" (<see cref="BuildFeatureMap"/>). Batch is dynamic.
/// </summary>
/// <remarks>
/// Folding preprocessing into the graph means the batched featurizer and the saved model's stock
/// ApplyOnnxModel step run the very same graph, and one ORT call replaces ML.NET's two
/// (ResNetPreprocess.onnx, then ResNet18.onnx). Pooling globally instead of with the export's fixed 7×7 kernel
/// lets the backbone run on any input size; at 224 the two are the same average.
/// </remarks>
internal static class FeaturizerGraph
{
    /// <summary>Graph input: RGB planes, N×3×S×S, 0–255.</summary>
    public const string InputName = "Pixels";

    /// <summary>Output of <see cref="Build"/>: N×C features.</summary>
    public const string OutputName = "Features";

    /// <summary>Output of <see cref="BuildFeatureMap"/>: N×C×H×W.</summary>
    public const string FeatureMapName = "FeatureMap";

    private const string Prefix = "mlnc_";
    private const string Suffix = "_featurizer";

    /// <summary>
    /// Recognises a pooled featurizer graph built here (by its name, input and output) and reads back the backbone's
    /// name, the side S of its N×3×S×S input and its feature count.
    /// </summary>
    internal static bool TryDescribe(ModelProto model, out string backboneName, out int size, out int channels)
    {
        backboneName = "";
        size = channels = 0;
        var g = model.Graph;
        if (g is null || !g.Name.StartsWith(Prefix, StringComparison.Ordinal) || !g.Name.EndsWith(Suffix, StringComparison.Ordinal))
            return false;
        var input = g.Input.FirstOrDefault(i => i.Name == InputName)?.Type?.TensorType?.Shape?.Dim;
        var output = g.Output.FirstOrDefault(o => o.Name == OutputName)?.Type?.TensorType?.Shape?.Dim;
        if (input is not { Count: 4 } || output is not { Count: 2 } || input[2].DimValue <= 0 || input[2].DimValue != input[3].DimValue || output[1].DimValue <= 0)
            return false;
        backboneName = g.Name[Prefix.Length..^Suffix.Length];
        size = (int)input[2].DimValue;
        channels = (int)output[1].DimValue;
        return true;
    }
    /// <summary>
    /// The featurizer graph <paramref name="pooledGraph"/> (one this library built, e.g. read back from a saved zip) with
    /// its global average pooling taken out: its <see cref="OutputName"/> output is then the flattened last feature map
    /// (C×H×W values per image, channel-major) whose average the pooled features were. Null when the features are not
    /// such an average (a backbone whose cut already pools).
    /// </summary>
    internal static byte[]? Unpooled(byte[] pooledGraph)
    {
        var model = ModelProto.Parser.ParseFrom(pooledGraph);
        var g = model.Graph;
        var gap = g.Node.FirstOrDefault(n => n.OpType == "GlobalAveragePool" && n.Output.Count == 1 && n.Output[0] == $"{Prefix}gap");
        var flatten = g.Node.FirstOrDefault(n => n.OpType == "Flatten" && n.Output.Count == 1 && n.Output[0] == OutputName && n.Input[0] == $"{Prefix}gap");
        if (gap is null || flatten is null)
            return null;
        flatten.Input[0] = gap.Input[0];
        g.Node.Remove(gap);
        var output = g.Output.First(o => o.Name == OutputName);
        g.Output.Remove(output);
        g.Output.Add(OnnxBuild.Tensor(OutputName, TensorProto.Types.DataType.Float, "N", "CHW"));
        return model.ToByteArray();
    }

    /// <summary>Graphs kept built: each is 15–60 MB and an int8 one takes seconds to calibrate, so a few stay, not all.</summary>
    internal const int CachedGraphs = 4;

    private static readonly object CacheLock = new();
    private static readonly Dictionary<(BackboneSpec, bool), (Lazy<byte[]> Graph, long LastUse)> Cache = [];
    private static long _uses;
    private static readonly ConcurrentDictionary<BackboneSpec, Lazy<int[]>> MapShapes = new();

    /// <summary>The serialized featurizer graph (pooled features) for <paramref name="spec"/>, built once per process.</summary>
    /// <exception cref="FileNotFoundException">The backbone's ONNX file (or mean-image file) is missing.</exception>
    /// <exception cref="InvalidDataException">The file is not ONNX, or lacks the named input or feature node.</exception>
    public static byte[] Build(BackboneSpec spec) => Cached(spec, featureMap: false);

    /// <summary>
    /// The graph with the unpooled last feature map as output, its shape declared in full
    /// (<see cref="FeatureMapShape"/>) so ML.NET's ApplyOnnxModel gives the column its C×H×W size.
    /// </summary>
    /// <exception cref="ArgumentException">The spec names no <see cref="BackboneSpec.FeatureMapNode"/>.</exception>
    public static byte[] BuildFeatureMap(BackboneSpec spec) => Cached(spec, featureMap: true);

    /// <summary>[C, H, W] of the feature map at the spec's input size, found by running the graph once.</summary>
    public static int[] FeatureMapShape(BackboneSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        return (int[])MapShapes.GetOrAdd(spec, s => new Lazy<int[]>(() => ProbeMapShape(s))).Value.Clone();
    }

    private static byte[] Cached(BackboneSpec spec, bool featureMap)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var key = (spec, featureMap);
        Lazy<byte[]> lazy;
        lock (CacheLock)
        {
            if (Cache.TryGetValue(key, out var entry))
                lazy = entry.Graph;
            else
            {
                lazy = new Lazy<byte[]>(() => BuildCore(spec, featureMap ? Output.FeatureMap : Output.Pooled, null), LazyThreadSafetyMode.ExecutionAndPublication);
                if (Cache.Count >= CachedGraphs)
                    Cache.Remove(Cache.MinBy(e => e.Value.LastUse).Key);
            }
            Cache[key] = (lazy, ++_uses);
        }
        try
        {
            return lazy.Value;
        }
        catch
        {
            lock (CacheLock)
                if (Cache.TryGetValue(key, out var entry) && entry.Graph == lazy)
                    Cache.Remove(key);
            throw;
        }
    }

    /// <summary>How many built graphs are held (for tests of the bound).</summary>
    internal static int CachedGraphCount
    {
        get { lock (CacheLock) return Cache.Count; }
    }

    private enum Output { Pooled, FeatureMap, ProbeMap, Pieces }

    /// <summary>Outputs of <see cref="BuildPieces"/>: average and maximum over the last map, then over the mid-level one.</summary>
    internal static readonly string[] PieceNames = ["AvgLast", "MaxLast", "AvgMid", "MaxMid"];

    /// <summary>
    /// A graph with four N×C outputs (<see cref="PieceNames"/>): global average and global maximum pooling of the last
    /// feature map, and of the mid-level map (<see cref="FindMidMap"/>), for measuring which combination transfers best.
    /// </summary>
    internal static byte[] BuildPieces(BackboneSpec spec) => BuildCore(spec, Output.Pieces, null);

    private static readonly ConcurrentDictionary<BackboneSpec, Lazy<float>> MidScales = new();

    /// <summary>
    /// The factor <see cref="FeaturePooling.Rich"/> multiplies the mid-level average by: the root-mean-square of the last
    /// map's average over that of the mid-level one, on the generated calibration scenes (label-free, the same for every
    /// data set), rounded to one decimal so that the graph's bytes, and the feature cache's key, never move with float
    /// rounding. Without it the mid-level half, about half as large, would weigh less under the head's L2 penalty.
    /// </summary>
    internal static float MidScale(BackboneSpec spec) => MidScales.GetOrAdd(spec with { Precision = ComputePrecision.Float32 }, s => new Lazy<float>(() =>
    {
        var plain = s with { Pooling = FeaturePooling.Average, Weights = WeightStorage.Float32 };
        int size = plain.ResizeSize;
        var pixels = Int8Calibration.Pixels(size);
        int n = pixels.Length / (3 * size * size);
        using var options = new SessionOptions { IntraOpNumThreads = 1 };
        using var session = new InferenceSession(BuildCore(plain, Output.Pieces, null), options);
        using var runOptions = new RunOptions();
        // One image a call: a batch of all of them would hold every activation at once (some 400 MB).
        double last = 0, mid = 0;
        long lastCount = 0, midCount = 0;
        int plane = 3 * size * size;
        for (int i = 0; i < n; i++)
        {
            using var input = OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, new Memory<float>(pixels, i * plane, plane), [1, 3, size, size]);
            using var results = session.Run(runOptions, [InputName], [input], [PieceNames[0], PieceNames[2]]);
            var a = results[0].GetTensorDataAsSpan<float>();
            var b = results[1].GetTensorDataAsSpan<float>();
            foreach (var x in a) last += (double)x * x;
            foreach (var x in b) mid += (double)x * x;
            lastCount += a.Length;
            midCount += b.Length;
        }
        double ratio = Math.Sqrt(last / lastCount) / Math.Max(Math.Sqrt(mid / midCount), 1e-12);
        return (float)Math.Max(0.1, Math.Round(ratio, 1));
    })).Value;

    /// <summary>Adds global pools of the last map (pieces 0, 1) and the mid-level map (2, 3) as graph outputs named <paramref name="names"/>; returns their total width.</summary>
    private static int AddPooledPieces(GraphProto graph, ModelProto backbone, BackboneSpec spec, string cut, string[] names, int[] pieces)
    {
        (string Node, int Channels)? mid = null;
        if (pieces.Any(p => p >= 2))
        {
            mid = FindMidMap(backbone, spec, (spec.FeatureMapNode ?? spec.FeatureNode)!)
                ?? throw new ArgumentException($"Backbone '{spec.Name}' has no mid-level map at twice the last map's side.", nameof(spec));
            if (spec.FeatureMapLayout == TensorLayout.Nhwc)
            {
                graph.Node.Add(OnnxBuild.Node("Transpose", [mid.Value.Node], [$"{Prefix}mid_nchw"], OnnxBuild.Ints("perm", 0, 3, 1, 2)));
                mid = ($"{Prefix}mid_nchw", mid.Value.Channels);
            }
        }
        int total = 0;
        for (int i = 0; i < pieces.Length; i++)
        {
            int piece = pieces[i];
            string op = piece % 2 == 0 ? "GlobalAveragePool" : "GlobalMaxPool";
            var (source, channels) = piece < 2 ? (cut, spec.Channels) : mid!.Value;
            graph.Node.Add(OnnxBuild.Node(op, [source], [$"{names[i]}_pooled"]));
            graph.Node.Add(OnnxBuild.Node("Flatten", [$"{names[i]}_pooled"], [names[i]], OnnxBuild.Attr("axis", 1)));
            graph.Output.Add(OnnxBuild.Tensor(names[i], TensorProto.Types.DataType.Float, "N", channels));
            total += channels;
        }
        return total;
    }

    /// <summary>
    /// The mid-level feature map: the last Relu/Clip/Add output before <paramref name="cut"/> whose side is twice the
    /// last map's (ResNet's stage 3, 256×14×14 at 224 for ResNet18), with its channel count; null when there is none.
    /// </summary>
    internal static (string Node, int Channels)? FindMidMap(ModelProto backbone, BackboneSpec spec, string cut)
    {
        var view = new GraphView(backbone.Graph);
        var upstream = view.Upstream(cut).ToHashSet();
        var candidates = backbone.Graph.Node.Where(n => upstream.Contains(n) && n.OpType is "Relu" or "Clip" or "Add" && n.Output[0] != cut)
            .Select(n => n.Output[0]).ToList();
        if (candidates.Count == 0)
            return null;
        // Probed at the size the file declares where it pins one (the side ratio does not depend on the size).
        int size = NativeSize(backbone.Graph, spec) is int native && native > 0 ? native : spec.InputSize;
        var shapes = Backbone.Probe(backbone, spec.InputNode!, spec.Layout, size, [.. candidates, cut]);
        bool nhwc = spec.FeatureMapLayout == TensorLayout.Nhwc;
        long Side(long[] s) => s.Length == 4 ? s[nhwc ? 1 : 2] : 0;
        long last = Side(shapes[cut]);
        for (int i = candidates.Count - 1; i >= 0; i--)
        {
            var s = shapes[candidates[i]];
            if (last > 0 && Side(s) == 2 * last)
                return (candidates[i], (int)s[nhwc ? 3 : 1]);
        }
        return null;
    }

    private static byte[] BuildCore(BackboneSpec spec, Output output, int[]? mapShape)
    {
        spec.Validate();
        if (spec.Pooling == FeaturePooling.TwoScales)
            return output == Output.Pooled
                ? BuildTwoScales(spec)
                : throw new ArgumentException($"A two-scale featurizer has no single feature map; build the map of '{spec.Name}' at one size.", nameof(spec));
        if (spec.Precision == ComputePrecision.Int8)
        {
            var full = spec with { Precision = ComputePrecision.Float32, Weights = WeightStorage.Float32 };
            return Int8Quantizer.Quantize(BuildCore(full, output, mapShape), Int8Calibration.Pixels(full.ResizeSize), full.ResizeSize);
        }
        var backbone = ReadModel(spec.ResolveModelFile(), spec.Name);
        var g = backbone.Graph;
        if (spec.InputNode is null || (spec.FeatureMapNode ?? spec.FeatureNode) is null)
            throw new ArgumentException(
                $"Backbone '{spec.Name}' does not name its input and feature nodes yet: read the file with Backbone.FromOnnx(path, preset) first.");
        if (g.Input.All(i => i.Name != spec.InputNode))
            throw new InvalidDataException($"Backbone '{spec.Name}' ({spec.ResolveModelFile()}) has no input '{spec.InputNode}'; inputs: {string.Join(", ", g.Input.Select(i => i.Name))}.");
        var view = new GraphView(g);
        if (output != Output.Pooled && spec.FeatureMapNode is null)
            throw new ArgumentException($"Backbone '{spec.Name}' names no feature-map node.", nameof(spec));
        string cut = (spec.FeatureMapNode ?? spec.FeatureNode)!;
        if (!view.Producers.ContainsKey(cut))
            throw new InvalidDataException($"Backbone '{spec.Name}' has no node output '{cut}'.");
        if ((spec.FeatureMapNode is null || !spec.AnyInputSize) && NativeSize(g, spec) is int native && native > 0 && spec.InputSize != native)
            throw new ArgumentException($"Backbone '{spec.Name}' runs at its native size {native} only (it is not fully convolutional up to its features).");

        var graph = new GraphProto { Name = $"{Prefix}{spec.Name}{Suffix}" };
        graph.Input.Add(OnnxBuild.Tensor(InputName, TensorProto.Types.DataType.Float, "N", 3, spec.ResizeSize, spec.ResizeSize));
        AddPreprocessing(graph, spec, OpsetOf(backbone));

        // Keep only what the cut node needs (drops the pooling and classifier tail).
        var needed = view.Upstream(cut);
        foreach (var node in g.Node.Where(needed.Contains))
            graph.Node.Add(node);
        var usedNames = new HashSet<string>(graph.Node.SelectMany(n => n.Input));
        foreach (var init in g.Initializer.Where(t => usedNames.Contains(t.Name)))
        {
            if (spec.Weights == WeightStorage.Float16 && HalfPrecision.TryStore(init, graph))
                continue;
            graph.Initializer.Add(init);
        }

        if (spec.FeatureMapLayout == TensorLayout.Nhwc)
        {
            // Pooling and the FeatureMap output are channel-major: turn an N×H×W×C map into N×C×H×W.
            graph.Node.Add(OnnxBuild.Node("Transpose", [cut], [$"{Prefix}map_nchw"], OnnxBuild.Ints("perm", 0, 3, 1, 2)));
            cut = $"{Prefix}map_nchw";
        }
        switch (output)
        {
            case Output.Pieces:
                AddPooledPieces(graph, backbone, spec, cut, PieceNames, [0, 1, 2, 3]);
                break;
            case Output.Pooled when spec.Pooling == FeaturePooling.Rich:
                if (spec.FeatureMapNode is null)
                    throw new ArgumentException($"Backbone '{spec.Name}' names no feature map, so its features cannot be pooled richly.", nameof(spec));
                string[] names = [$"{Prefix}rich_last", $"{Prefix}rich_mid"];
                int total = AddPooledPieces(graph, backbone, spec, cut, names, [0, 2]);
                graph.Initializer.Add(OnnxBuild.Floats($"{Prefix}rich_mid_scale", [1], [MidScale(spec)]));
                graph.Node.Add(OnnxBuild.Node("Mul", [names[1], $"{Prefix}rich_mid_scale"], [$"{Prefix}rich_mid_scaled"]));
                graph.Node.Add(OnnxBuild.Node("Concat", [names[0], $"{Prefix}rich_mid_scaled"], [OutputName], OnnxBuild.Attr("axis", 1)));
                foreach (var name in names)
                    graph.Output.Remove(graph.Output.First(o => o.Name == name));
                graph.Output.Add(OnnxBuild.Tensor(OutputName, TensorProto.Types.DataType.Float, "N", total));
                break;
            case Output.Pooled when spec.FeatureMapNode is not null:
                graph.Node.Add(OnnxBuild.Node("GlobalAveragePool", [cut], [$"{Prefix}gap"]));
                graph.Node.Add(OnnxBuild.Node("Flatten", [$"{Prefix}gap"], [OutputName], OnnxBuild.Attr("axis", 1)));
                graph.Output.Add(OnnxBuild.Tensor(OutputName, TensorProto.Types.DataType.Float, "N", spec.Channels));
                break;
            case Output.Pooled:
                graph.Node.Add(OnnxBuild.Node("Flatten", [cut], [OutputName], OnnxBuild.Attr("axis", 1)));
                graph.Output.Add(OnnxBuild.Tensor(OutputName, TensorProto.Types.DataType.Float, "N", spec.Channels));
                break;
            default:
                graph.Node.Add(OnnxBuild.Node("Identity", [cut], [FeatureMapName]));
                var shape = output == Output.FeatureMap ? FeatureMapShape(spec) : null;
                graph.Output.Add(shape is null
                    ? OnnxBuild.Tensor(FeatureMapName, TensorProto.Types.DataType.Float, "N", spec.Channels, "H", "W")
                    : OnnxBuild.Tensor(FeatureMapName, TensorProto.Types.DataType.Float, "N", shape[0], shape[1], shape[2]));
                break;
        }
        // The export's value_info pins batch = 1 on every intermediate; ORT infers shapes without it.

        var model = new ModelProto
        {
            IrVersion = backbone.IrVersion,
            ProducerName = "MLNetClassify",
            ProducerVersion = typeof(FeaturizerGraph).Assembly.GetName().Version?.ToString() ?? "",
            Graph = graph,
            DocString = $"Featurizer for backbone {spec.Name} at {spec.InputSize}x{spec.InputSize}: RGB 0-255 planes -> preprocessing -> {cut} -> {output}.",
        };
        model.OpsetImport.AddRange(backbone.OpsetImport);
        return model.ToByteArray();
    }

    /// <summary>
    /// One graph over 2S×2S planes: the single-scale graph at 2S on them, and the single-scale graph at S on their 2×2
    /// average (AveragePool, kernel and stride 2: an exact box filter in every opset); the two pooled vectors are
    /// concatenated, S first. Backbone weights the two branches share are stored once.
    /// </summary>
    private static byte[] BuildTwoScales(BackboneSpec spec)
    {
        if (spec.FeatureMapNode is null || !spec.AnyInputSize)
            throw new ArgumentException($"Backbone '{spec.Name}' cannot run at twice its input size (it names no feature map, or is fixed to its size).", nameof(spec));
        if (spec.Precision == ComputePrecision.Int8)
            throw new ArgumentException("Two-scale features are built in float32 only; use --precision Float32 with them.", nameof(spec));
        var single = spec with { Pooling = FeaturePooling.Average };
        var large = ModelProto.Parser.ParseFrom(BuildCore(single with { InputSize = 2 * spec.InputSize }, Output.Pooled, null));
        var small = ModelProto.Parser.ParseFrom(BuildCore(single, Output.Pooled, null));

        var graph = new GraphProto { Name = $"{Prefix}{spec.Name}-twoscales{Suffix}" };
        graph.Input.Add(OnnxBuild.Tensor(InputName, TensorProto.Types.DataType.Float, "N", 3, spec.ResizeSize, spec.ResizeSize));
        string Large(string name) => name == InputName ? InputName : name == OutputName ? $"{Prefix}large_features" : name;
        foreach (var node in large.Graph.Node)
            graph.Node.Add(Renamed(node, Large, "large_"));
        graph.Initializer.AddRange(large.Graph.Initializer);

        graph.Node.Add(OnnxBuild.Node("AveragePool", [InputName], [$"{Prefix}half"], OnnxBuild.Ints("kernel_shape", 2, 2), OnnxBuild.Ints("strides", 2, 2)));
        // Shared: initializers equal in both branches, and the outputs of nodes that compute the same thing from shared
        // inputs (the float16 weights' Constant and Cast nodes): stored and computed once, under their own names.
        var largeInitializers = large.Graph.Initializer.ToDictionary(t => t.Name, t => t);
        var shared = small.Graph.Initializer.Where(t => largeInitializers.TryGetValue(t.Name, out var same) && same.Equals(t)).Select(t => t.Name).ToHashSet();
        var largeProducers = large.Graph.Node.Where(n => n.Output.Count > 0).GroupBy(n => n.Output[0]).ToDictionary(g => g.Key, g => g.First());
        string Small(string name) =>
            name == InputName ? $"{Prefix}half"
            : name == OutputName ? $"{Prefix}small_features"
            : shared.Contains(name) ? name
            : $"{Prefix}small_{name}";
        foreach (var node in small.Graph.Node)
        {
            if (node.Output.Count == 1 && node.Input.All(i => i.Length == 0 || shared.Contains(i))
                && largeProducers.TryGetValue(node.Output[0], out var twin) && twin.OpType == node.OpType
                && twin.Input.SequenceEqual(node.Input) && twin.Attribute.SequenceEqual(node.Attribute))
            {
                shared.Add(node.Output[0]);
                continue;
            }
            graph.Node.Add(Renamed(node, Small, "small_"));
        }
        foreach (var t in small.Graph.Initializer.Where(t => !shared.Contains(t.Name)))
        {
            var copy = t.Clone();
            copy.Name = Small(t.Name);
            graph.Initializer.Add(copy);
        }
        graph.Node.Add(OnnxBuild.Node("Concat", [$"{Prefix}small_features", $"{Prefix}large_features"], [OutputName], OnnxBuild.Attr("axis", 1)));
        graph.Output.Add(OnnxBuild.Tensor(OutputName, TensorProto.Types.DataType.Float, "N", 2 * spec.Channels));
        var model = large.Clone();
        model.Graph = graph;
        model.DocString = $"Featurizer for backbone {spec.Name} at {spec.InputSize} and {2 * spec.InputSize}: averages at both sizes, concatenated.";
        return model.ToByteArray();
    }

    private static NodeProto Renamed(NodeProto node, Func<string, string> rename, string namePrefix)
    {
        var copy = node.Clone();
        copy.Name = node.Name.Length > 0 ? $"{Prefix}{namePrefix}{node.Name}" : "";
        for (int i = 0; i < copy.Input.Count; i++)
            if (copy.Input[i].Length > 0) copy.Input[i] = rename(copy.Input[i]);
        for (int i = 0; i < copy.Output.Count; i++)
            copy.Output[i] = rename(copy.Output[i]);
        return copy;
    }

    private static int[] ProbeMapShape(BackboneSpec spec)
    {
        var shape = ShapeProbe.Run(BuildCore(spec, Output.ProbeMap, null), InputName, [1, 3, spec.ResizeSize, spec.ResizeSize], [FeatureMapName],
            GraphOptimizationLevel.ORT_ENABLE_BASIC)[FeatureMapName];
        return [(int)shape[1], (int)shape[2], (int)shape[3]];
    }

    private static int NativeSize(GraphProto g, BackboneSpec spec)
    {
        var dims = g.Input.First(i => i.Name == spec.InputNode).Type.TensorType.Shape.Dim;
        return (int)dims[spec.Layout == TensorLayout.Nhwc ? 1 : dims.Count - 1].DimValue; // 0 when symbolic
    }

    internal static long OpsetOf(ModelProto model) =>
        model.OpsetImport.Where(o => o.Domain is "" or "ai.onnx").Select(o => o.Version).DefaultIfEmpty(1).Max();

    private static void AddPreprocessing(GraphProto graph, BackboneSpec spec, long opset)
    {
        string current = InputName;
        if (spec.ResizeSize != spec.InputSize)
            current = AddCentreCrop(graph, current, spec, opset);
        if (spec.Order == PixelOrder.Bgr)
        {
            graph.Initializer.Add(OnnxBuild.Int64s($"{Prefix}bgr_index", [3], [2, 1, 0]));
            graph.Node.Add(OnnxBuild.Node("Gather", [current, $"{Prefix}bgr_index"], [$"{Prefix}bgr"], OnnxBuild.Attr("axis", 1)));
            current = $"{Prefix}bgr";
        }

        // NCHW graphs take the normalized planes as they are; NHWC ones get them transposed.
        bool nhwc = spec.Layout == TensorLayout.Nhwc;
        string normalized = nhwc ? $"{Prefix}normalized" : spec.InputNode!;
        if (spec.MeanImage is { } meanImage)
        {
            var mean = ReadModel(BackboneSpec.Resolve(meanImage.File), spec.Name).Graph.Initializer
                .FirstOrDefault(t => t.Name == meanImage.Initializer)
                ?? throw new InvalidDataException($"Mean image '{meanImage.Initializer}' not found in {BackboneSpec.Resolve(meanImage.File)}.");
            graph.Initializer.Add(MeanImageAt(mean, spec.InputSize, $"{Prefix}mean_image"));
            if (spec.PixelScale != 1f)
                current = AddScale(graph, current, spec.PixelScale);
            graph.Node.Add(OnnxBuild.Node("Sub", [current, $"{Prefix}mean_image"], [normalized]));
        }
        else
        {
            var (m, s) = spec.Order == PixelOrder.Bgr
                ? (new[] { spec.Mean.B, spec.Mean.G, spec.Mean.R }, new[] { spec.Std.B, spec.Std.G, spec.Std.R })
                : (new[] { spec.Mean.R, spec.Mean.G, spec.Mean.B }, new[] { spec.Std.R, spec.Std.G, spec.Std.B });
            // (x·scale − mean)/std = x·(scale/std) + (−mean/std), one Mul and one Add.
            var a = s.Select(v => spec.PixelScale / v).ToArray();
            var b = m.Zip(s, (mu, sd) => -mu / sd).ToArray();
            graph.Initializer.Add(OnnxBuild.Floats($"{Prefix}norm_a", [1, 3, 1, 1], a));
            graph.Initializer.Add(OnnxBuild.Floats($"{Prefix}norm_b", [1, 3, 1, 1], b));
            graph.Node.Add(OnnxBuild.Node("Mul", [current, $"{Prefix}norm_a"], [$"{Prefix}norm_mul"]));
            graph.Node.Add(OnnxBuild.Node("Add", [$"{Prefix}norm_mul", $"{Prefix}norm_b"], [normalized]));
        }
        if (nhwc)
            graph.Node.Add(OnnxBuild.Node("Transpose", [normalized], [spec.InputNode!], OnnxBuild.Ints("perm", 0, 2, 3, 1)));
    }

    /// <summary>Cuts the centre InputSize×InputSize out of the ResizeSize×ResizeSize planes (Slice: attributes before opset 10, inputs from 10).</summary>
    private static string AddCentreCrop(GraphProto graph, string input, BackboneSpec spec, long opset)
    {
        long start = (spec.ResizeSize - spec.InputSize) / 2, end = start + spec.InputSize;
        string output = $"{Prefix}crop";
        if (opset < 10)
        {
            graph.Node.Add(OnnxBuild.Node("Slice", [input], [output],
                OnnxBuild.Ints("starts", start, start), OnnxBuild.Ints("ends", end, end), OnnxBuild.Ints("axes", 2, 3)));
            return output;
        }
        graph.Initializer.Add(OnnxBuild.Int64s($"{Prefix}crop_starts", [2], [start, start]));
        graph.Initializer.Add(OnnxBuild.Int64s($"{Prefix}crop_ends", [2], [end, end]));
        graph.Initializer.Add(OnnxBuild.Int64s($"{Prefix}crop_axes", [2], [2, 3]));
        graph.Node.Add(OnnxBuild.Node("Slice", [input, $"{Prefix}crop_starts", $"{Prefix}crop_ends", $"{Prefix}crop_axes"], [output]));
        return output;
    }

    /// <summary>The 1×3×H×W mean image, resized bilinearly (half-pixel centres) to size×size when it differs.</summary>
    private static TensorProto MeanImageAt(TensorProto mean, int size, string name)
    {
        int h = (int)mean.Dims[2], w = (int)mean.Dims[3];
        var src = OnnxBuild.ReadFloats(mean);
        if (h == size && w == size)
            return OnnxBuild.Floats(name, [1, 3, size, size], src);
        var dst = new float[3 * size * size];
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < size; y++)
            {
                double sy = Math.Clamp((y + 0.5) * h / size - 0.5, 0, h - 1);
                int y0 = (int)sy, y1 = Math.Min(y0 + 1, h - 1);
                double fy = sy - y0;
                for (int x = 0; x < size; x++)
                {
                    double sx = Math.Clamp((x + 0.5) * w / size - 0.5, 0, w - 1);
                    int x0 = (int)sx, x1 = Math.Min(x0 + 1, w - 1);
                    double fx = sx - x0;
                    int p = c * h * w;
                    double top = src[p + y0 * w + x0] * (1 - fx) + src[p + y0 * w + x1] * fx;
                    double bottom = src[p + y1 * w + x0] * (1 - fx) + src[p + y1 * w + x1] * fx;
                    dst[c * size * size + y * size + x] = (float)(top * (1 - fy) + bottom * fy);
                }
            }
        return OnnxBuild.Floats(name, [1, 3, size, size], dst);
    }

    private static string AddScale(GraphProto graph, string input, float scale)
    {
        graph.Initializer.Add(OnnxBuild.Floats($"{Prefix}scale_a", [1], [scale]));
        graph.Node.Add(OnnxBuild.Node("Mul", [input, $"{Prefix}scale_a"], [$"{Prefix}scale"]));
        return $"{Prefix}scale";
    }

    internal static ModelProto ReadModel(string path, string backboneName)
    {
        if (!File.Exists(path))
            throw new FileNotFoundException(
                $"ONNX file for backbone '{backboneName}' not found: {path}. The embedded ResNet18 ships in NuGet " +
                "Microsoft.ML.DnnImageFeaturizer.ResNet18 0.23.1 (reference it in the application's project: it copies DnnImageModels/ next to the application); " +
                "it is also looked for beside MLNetClassify.dll and in the NuGet package folder ($NUGET_PACKAGES or ~/.nuget/packages).", path);
        try
        {
            using var stream = File.OpenRead(path);
            var model = ModelProto.Parser.ParseFrom(stream);
            if (model.Graph is null || model.Graph.Node.Count == 0)
                throw new InvalidDataException($"{path} holds no ONNX graph.");
            return model;
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new InvalidDataException($"{path} is not an ONNX model: {e.Message}", e);
        }
    }
}

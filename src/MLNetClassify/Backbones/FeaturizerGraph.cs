using System.Collections.Concurrent;
using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using MLNetClassify.Onnx;
using Onnx;

namespace MLNetClassify.Backbones;

/// <summary>
/// Builds the ONNX graphs a backbone runs as, in three steps, one file each: RGB planes 0–255 (ML.NET ExtractPixels'
/// layout) in, preprocessing (FeaturizerGraph.Preprocess.cs); the backbone cut at its last feature map, a
/// transformer's patch tokens laid out as one (FeaturizerGraph.Cut.cs); then pooling to a flat N×C "Features" tensor
/// (<see cref="Build"/>) or the unpooled N×C×H×W "FeatureMap" (<see cref="BuildFeatureMap"/>) (FeaturizerGraph.Pool.cs).
/// Batch is dynamic. Two-scale features join two such graphs (FeaturizerGraph.TwoScales.cs).
/// </summary>
/// <remarks>
/// Folding preprocessing into the graph means the batched featurizer and the saved model's stock
/// ApplyOnnxModel step run the very same graph, and one ORT call replaces ML.NET's two
/// (ResNetPreprocess.onnx, then ResNet18.onnx). Pooling globally instead of with the export's fixed 7×7 kernel
/// lets the backbone run on any input size; at 224 the two are the same average.
/// </remarks>
internal static partial class FeaturizerGraph
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
                lazy = new Lazy<byte[]>(() => BuildCore(spec, featureMap ? Output.FeatureMap : Output.Pooled), LazyThreadSafetyMode.ExecutionAndPublication);
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
    internal static byte[] BuildPieces(BackboneSpec spec) => BuildCore(spec, Output.Pieces);


    private static byte[] BuildCore(BackboneSpec spec, Output output)
    {
        spec.Validate();
        if (spec.Pooling == FeaturePooling.TwoScales)
            return output == Output.Pooled
                ? BuildTwoScales(spec)
                : throw new ArgumentException($"A two-scale featurizer has no single feature map; build the map of '{spec.Name}' at one size.", nameof(spec));
        if (spec.Precision == ComputePrecision.Int8)
        {
            var full = spec with { Precision = ComputePrecision.Float32, Weights = WeightStorage.Float32 };
            return Int8Quantizer.Quantize(BuildCore(full, output), Int8Calibration.Pixels(full.ResizeSize), full.ResizeSize);
        }
        var backbone = ReadModel(spec.ResolveModelFile(), spec.Name);
        long opset = OpsetOf(backbone);
        var graph = new GraphProto { Name = $"{Prefix}{spec.Name}{Suffix}" };
        graph.Input.Add(OnnxBuild.Tensor(InputName, TensorProto.Types.DataType.Float, "N", 3, spec.ResizeSize, spec.ResizeSize));
        AddPreprocessing(graph, spec, opset);
        var (cut, source) = AddCut(graph, backbone, spec, output, opset);
        AddOutput(graph, backbone, spec, cut, output);
        // The export's value_info pins batch = 1 on every intermediate; ORT infers shapes without it.

        var model = new ModelProto
        {
            IrVersion = backbone.IrVersion,
            ProducerName = "MLNetClassify",
            ProducerVersion = typeof(FeaturizerGraph).Assembly.GetName().Version?.ToString() ?? "",
            Graph = graph,
            DocString = $"Featurizer for backbone {spec.Name} at {spec.InputSize}x{spec.InputSize}: RGB 0-255 planes -> preprocessing -> {source} -> {output}.",
        };
        model.OpsetImport.AddRange(backbone.OpsetImport);
        return model.ToByteArray();
    }

    private static int[] ProbeMapShape(BackboneSpec spec)
    {
        var shape = ShapeProbe.Run(BuildCore(spec, Output.ProbeMap), InputName, [1, 3, spec.ResizeSize, spec.ResizeSize], [FeatureMapName],
            GraphOptimizationLevel.ORT_ENABLE_BASIC)[FeatureMapName];
        return [(int)shape[1], (int)shape[2], (int)shape[3]];
    }

}

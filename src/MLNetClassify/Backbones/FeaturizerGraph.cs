using System.Collections.Concurrent;
using Google.Protobuf;
using Onnx;

namespace MLNetClassify.Backbones;

/// <summary>
/// Builds the one ONNX graph a backbone runs as: RGB planes 0–255 (ML.NET ExtractPixels' layout) in,
/// preprocessing, the backbone cut at its feature node, a flat N×C "Features" tensor out, batch dynamic.
/// </summary>
/// <remarks>
/// Folding preprocessing into the graph means the batched featurizer and the saved model's stock
/// ApplyOnnxModel step run the very same graph, and one ORT call replaces ML.NET's two
/// (ResNetPreprocess.onnx, then ResNet18.onnx).
/// </remarks>
public static class FeaturizerGraph
{
    /// <summary>Graph input: RGB planes, N×3×S×S, 0–255.</summary>
    public const string InputName = "Pixels";

    /// <summary>Graph output: N×C features.</summary>
    public const string OutputName = "Features";

    private const string Prefix = "mlnc_";
    private static readonly ConcurrentDictionary<BackboneSpec, Lazy<byte[]>> Cache = new();

    /// <summary>The serialized featurizer graph for <paramref name="spec"/>, built once per process.</summary>
    /// <exception cref="FileNotFoundException">The backbone's ONNX file (or mean-image file) is missing.</exception>
    /// <exception cref="InvalidDataException">The file is not ONNX, or lacks the named input or feature node.</exception>
    public static byte[] Build(BackboneSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var lazy = Cache.GetOrAdd(spec, s => new Lazy<byte[]>(() => BuildCore(s), LazyThreadSafetyMode.ExecutionAndPublication));
        try
        {
            return lazy.Value;
        }
        catch
        {
            Cache.TryRemove(spec, out _);
            throw;
        }
    }

    private static byte[] BuildCore(BackboneSpec spec)
    {
        var backbone = ReadModel(spec.ResolveModelFile(), spec.Name);
        var g = backbone.Graph;
        if (g.Input.All(i => i.Name != spec.InputNode))
            throw new InvalidDataException($"Backbone '{spec.Name}' ({spec.ResolveModelFile()}) has no input '{spec.InputNode}'; inputs: {string.Join(", ", g.Input.Select(i => i.Name))}.");
        var producers = g.Node.SelectMany(n => n.Output.Select(o => (o, n))).ToDictionary(p => p.o, p => p.n);
        if (!producers.ContainsKey(spec.FeatureNode))
            throw new InvalidDataException($"Backbone '{spec.Name}' has no node output '{spec.FeatureNode}'.");

        var graph = new GraphProto { Name = $"{Prefix}{spec.Name}_featurizer" };
        graph.Input.Add(OnnxBuild.Tensor(InputName, TensorProto.Types.DataType.Float, "N", 3, spec.InputSize, spec.InputSize));
        AddPreprocessing(graph, spec);

        // Keep only what the feature node needs (drops the classifier tail, if any).
        var needed = Reachable(spec.FeatureNode, producers);
        foreach (var node in g.Node.Where(needed.Contains))
            graph.Node.Add(node);
        var usedNames = new HashSet<string>(graph.Node.SelectMany(n => n.Input));
        foreach (var init in g.Initializer.Where(t => usedNames.Contains(t.Name)))
            graph.Initializer.Add(init);

        graph.Node.Add(OnnxBuild.Node("Flatten", [spec.FeatureNode], [OutputName], OnnxBuild.Attr("axis", 1)));
        graph.Output.Add(OnnxBuild.Tensor(OutputName, TensorProto.Types.DataType.Float, "N", spec.Channels));
        // The export's value_info pins batch = 1 on every intermediate; ORT infers shapes without it.

        var model = new ModelProto
        {
            IrVersion = backbone.IrVersion,
            ProducerName = "MLNetClassify",
            ProducerVersion = typeof(FeaturizerGraph).Assembly.GetName().Version?.ToString() ?? "",
            Graph = graph,
            DocString = $"Featurizer for backbone {spec.Name}: RGB 0-255 planes -> preprocessing -> {spec.FeatureNode} -> flatten.",
        };
        model.OpsetImport.AddRange(backbone.OpsetImport);
        return model.ToByteArray();
    }

    private static void AddPreprocessing(GraphProto graph, BackboneSpec spec)
    {
        string current = InputName;
        if (spec.Order == PixelOrder.Bgr)
        {
            graph.Initializer.Add(OnnxBuild.Int64s($"{Prefix}bgr_index", [3], [2, 1, 0]));
            graph.Node.Add(OnnxBuild.Node("Gather", [current, $"{Prefix}bgr_index"], [$"{Prefix}bgr"], OnnxBuild.Attr("axis", 1)));
            current = $"{Prefix}bgr";
        }

        if (spec.MeanImage is { } meanImage)
        {
            var mean = ReadModel(BackboneSpec.Resolve(meanImage.File), spec.Name).Graph.Initializer
                .FirstOrDefault(t => t.Name == meanImage.Initializer)
                ?? throw new InvalidDataException($"Mean image '{meanImage.Initializer}' not found in {BackboneSpec.Resolve(meanImage.File)}.");
            var renamed = mean.Clone();
            renamed.Name = $"{Prefix}mean_image";
            graph.Initializer.Add(renamed);
            if (spec.PixelScale != 1f)
                current = AddScale(graph, current, spec.PixelScale);
            graph.Node.Add(OnnxBuild.Node("Sub", [current, renamed.Name], [spec.InputNode]));
            return;
        }

        var (m, s) = spec.Order == PixelOrder.Bgr
            ? (new[] { spec.Mean.B, spec.Mean.G, spec.Mean.R }, new[] { spec.Std.B, spec.Std.G, spec.Std.R })
            : (new[] { spec.Mean.R, spec.Mean.G, spec.Mean.B }, new[] { spec.Std.R, spec.Std.G, spec.Std.B });
        // (x·scale − mean)/std = x·(scale/std) + (−mean/std), one Mul and one Add.
        var a = s.Select(v => spec.PixelScale / v).ToArray();
        var b = m.Zip(s, (mu, sd) => -mu / sd).ToArray();
        graph.Initializer.Add(OnnxBuild.Floats($"{Prefix}norm_a", [1, 3, 1, 1], a));
        graph.Initializer.Add(OnnxBuild.Floats($"{Prefix}norm_b", [1, 3, 1, 1], b));
        graph.Node.Add(OnnxBuild.Node("Mul", [current, $"{Prefix}norm_a"], [$"{Prefix}norm_mul"]));
        graph.Node.Add(OnnxBuild.Node("Add", [$"{Prefix}norm_mul", $"{Prefix}norm_b"], [spec.InputNode]));
    }

    private static string AddScale(GraphProto graph, string input, float scale)
    {
        graph.Initializer.Add(OnnxBuild.Floats($"{Prefix}scale_a", [1], [scale]));
        graph.Node.Add(OnnxBuild.Node("Mul", [input, $"{Prefix}scale_a"], [$"{Prefix}scale"]));
        return $"{Prefix}scale";
    }

    private static HashSet<NodeProto> Reachable(string output, Dictionary<string, NodeProto> producers)
    {
        var seen = new HashSet<NodeProto>();
        var stack = new Stack<string>([output]);
        while (stack.Count > 0)
        {
            if (!producers.TryGetValue(stack.Pop(), out var node) || !seen.Add(node))
                continue;
            foreach (var input in node.Input)
                stack.Push(input);
        }
        return seen;
    }

    internal static ModelProto ReadModel(string path, string backboneName)
    {
        if (!File.Exists(path))
            throw new FileNotFoundException(
                $"ONNX file for backbone '{backboneName}' not found: {path}. The embedded ResNet18 ships in NuGet " +
                "Microsoft.ML.DnnImageFeaturizer.ResNet18 0.23.1, which copies DnnImageModels/ next to the application.", path);
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

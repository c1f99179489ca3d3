using Microsoft.ML.OnnxRuntime;
using MLNetClassify.Onnx;
using Onnx;

namespace MLNetClassify.Backbones;

/// <summary>What <see cref="Backbone.Inspect"/> found in an image-classifier ONNX file.</summary>
/// <param name="Input">Name of the image input.</param>
/// <param name="InputShape">Its declared dimensions (0 where symbolic).</param>
/// <param name="Layout">NCHW or NHWC.</param>
/// <param name="FeatureNode">The unpooled feature map the featurizer cuts at.</param>
/// <param name="FeatureLayout">The feature map's own layout.</param>
/// <param name="FeatureShape">[C, H, W] of the feature map at the default input size.</param>
/// <param name="InputSize">The input size the shape was taken at.</param>
/// <param name="AnyInputSize">True when nothing between input and feature map fixes the spatial size.</param>
/// <param name="Preset">The catalogue preset whose preprocessing applies, or null.</param>
/// <param name="PrefixTokens">
/// For a token sequence N×T×C (a vision transformer's encoder output), how many tokens precede the patch grid (1 for
/// a class token; 0 when the sequence is the grid alone); null for a spatial map. <paramref name="FeatureShape"/> is
/// then [C, side, side] of the patch grid.
/// </param>
internal sealed record BackboneInspection(
    string Input, IReadOnlyList<long> InputShape, TensorLayout Layout, string FeatureNode, TensorLayout FeatureLayout,
    IReadOnlyList<int> FeatureShape, int InputSize, bool AnyInputSize, string? Preset, int? PrefixTokens = null);

/// <summary>
/// Reads an image-classifier ONNX file (torchvision export, ONNX Model Zoo, Keras through tf2onnx, ...), finds its
/// classifier tail — the Softmax / Gemm / MatMul+Add / Flatten / Reshape chain after the last global pool or the last
/// spatial feature map, or after the class token's or the tokens' mean of a vision transformer — and describes the
/// backbone up to there as a <see cref="BackboneSpec"/>. An encoder exported without a classifier (its output the token
/// sequence N×T×C itself) is taken as it is.
/// </summary>
internal static partial class Backbone
{
    /// <summary>
    /// A spec for <paramref name="path"/>: input and feature-map nodes found in the graph, preprocessing from
    /// <paramref name="preset"/>, else from the catalogue preset the file matches, else ImageNet's (RGB, 0–1, mean/std).
    /// </summary>
    /// <param name="path">The ONNX file.</param>
    /// <param name="preset">Preprocessing and input size to use; null to match one from the catalogue.</param>
    /// <param name="featureNode">Cut at this node output instead of the detected one (the way out when detection cannot decide).</param>
    /// <exception cref="FileNotFoundException">No such file.</exception>
    /// <exception cref="InvalidDataException">Not an ONNX image classifier, or the feature map cannot be decided (the message lists candidates).</exception>
    public static BackboneSpec FromOnnx(string path, BackboneSpec? preset = null, string? featureNode = null)
    {
        var inspection = Inspect(path, preset, featureNode);
        var basis = preset ?? (inspection.Preset is { } name ? BackboneCatalog.Get(name) : DefaultPreprocessing);
        return basis with
        {
            Name = preset?.Name ?? Path.GetFileNameWithoutExtension(path),
            ModelFile = Path.GetFullPath(path),
            InputSize = inspection.InputSize,
            Layout = inspection.Layout,
            InputNode = inspection.Input,
            FeatureMapNode = inspection.FeatureNode,
            FeatureNode = null,
            FeatureMapLayout = inspection.FeatureLayout,
            FeatureMapSide = inspection.FeatureShape[1],
            Channels = inspection.FeatureShape[0],
            AnyInputSize = inspection.AnyInputSize,
            PrefixTokens = inspection.PrefixTokens,
            Embedded = false,
            MeanImage = null,
            Weights = WeightStorage.Float32,
        };
    }

    /// <summary>Inputs, the detected feature node and its shape, and the preset matched, without building anything.</summary>
    /// <exception cref="FileNotFoundException">No such file.</exception>
    /// <exception cref="InvalidDataException">Not an ONNX image classifier, or the feature map cannot be decided.</exception>
    public static BackboneInspection Inspect(string path, BackboneSpec? preset = null, string? featureNode = null)
    {
        var model = FeaturizerGraph.ReadModel(path, Path.GetFileName(path));
        var g = model.Graph;
        var (input, dims, layout) = ImageInput(g, path);
        int declared = (int)(layout == TensorLayout.Nchw ? dims[2] : dims[1]);
        var matched = preset?.Name ?? MatchPreset(path);
        int size = declared > 0 ? declared : (preset ?? (matched is null ? null : BackboneCatalog.Get(matched)))?.InputSize ?? 224;

        var graph = new GraphView(g);
        var found = featureNode is null ? FindFeatureMap(graph, path, model, input, layout, size) : (featureNode, (TensorLayout?)null);
        if (!graph.Producers.ContainsKey(found.Item1))
            throw new InvalidDataException($"{path} has no node output '{found.Item1}'. Candidates: {string.Join(", ", Candidates(graph))}.");
        var shape = Probe(model, input, layout, size, [found.Item1])[found.Item1];
        if (shape.Length == 3)
            return TokenInspection(path, input, dims, layout, found.Item1, shape, size, matched);
        if (shape.Length != 4)
            throw new InvalidDataException($"{path}: '{found.Item1}' has shape [{string.Join(",", shape)}], neither a 4-D feature map nor a token sequence N×T×C.");
        var mapLayout = found.Item2 ?? GuessLayout(shape, layout);
        int[] chw = mapLayout == TensorLayout.Nchw ? [(int)shape[1], (int)shape[2], (int)shape[3]] : [(int)shape[3], (int)shape[1], (int)shape[2]];
        bool anySize = graph.Upstream(found.Item1).All(n => n.OpType is not ("Reshape" or "Flatten" or "Gemm" or "MatMul"));
        return new BackboneInspection(input, dims, layout, found.Item1, mapLayout, chw, size, anySize, matched);
    }

    /// <summary>
    /// Most tokens that may precede the patch grid: a class token, a distillation token, a few registers (DINOv2 with
    /// registers has five in all).
    /// </summary>
    internal const int MaxPrefixTokens = 16;

    /// <summary>
    /// A token sequence [1, T, C]: the patch grid is the last side² tokens, side² the largest square that leaves at most
    /// <see cref="MaxPrefixTokens"/> before it (197 = 1 + 14²: a class token and a 14×14 grid). The size stays fixed: a
    /// transformer's position embedding is learnt for one grid.
    /// </summary>
    private static BackboneInspection TokenInspection(string path, string input, long[] dims, TensorLayout layout, string node, long[] shape, int size, string? preset)
    {
        long tokens = shape[1], channels = shape[2];
        for (int prefix = 0; prefix <= MaxPrefixTokens && prefix < tokens; prefix++)
        {
            long side = (long)Math.Round(Math.Sqrt(tokens - prefix));
            if (side * side == tokens - prefix)
                return new BackboneInspection(input, dims, layout, node, TensorLayout.Nchw, [(int)channels, (int)side, (int)side], size, AnyInputSize: false, preset, prefix);
        }
        throw new InvalidDataException(
            $"{path}: '{node}' is a sequence of {tokens} tokens of {channels} values, but no square patch grid follows at most {MaxPrefixTokens} leading tokens; " +
            "name the feature node with --feature-node if another output holds the tokens.");
    }

    /// <summary>ImageNet preprocessing for a file no preset matches: RGB, 0–1, ImageNet mean and std, no crop.</summary>
    private static BackboneSpec DefaultPreprocessing { get; } = new()
    {
        Name = "imagenet-default",
        ModelFile = "",
        Channels = 0,
    };

    private static (string Name, long[] Dims, TensorLayout Layout) ImageInput(GraphProto g, string path)
    {
        var initializers = new HashSet<string>(g.Initializer.Select(t => t.Name));
        var inputs = g.Input.Where(i => !initializers.Contains(i.Name)).ToList();
        if (inputs.Count != 1)
            throw new InvalidDataException($"{path} has {inputs.Count} inputs ({string.Join(", ", inputs.Select(i => i.Name))}); an image classifier has one.");
        var dims = inputs[0].Type.TensorType?.Shape?.Dim.Select(d => d.DimValue).ToArray() ?? [];
        if (dims.Length != 4)
            throw new InvalidDataException($"{path}: input '{inputs[0].Name}' has {dims.Length} dimensions, not the 4 of an image batch.");
        var layout = dims[1] == 3 ? TensorLayout.Nchw
            : dims[3] == 3 ? TensorLayout.Nhwc
            : throw new InvalidDataException($"{path}: input '{inputs[0].Name}' [{string.Join(",", dims)}] has 3 channels neither second (NCHW) nor last (NHWC).");
        return (inputs[0].Name, dims, layout);
    }

    private static TensorLayout GuessLayout(long[] shape, TensorLayout inputLayout) =>
        // A map with a square spatial part: the channel axis is the odd one out.
        shape[2] == shape[3] && shape[1] != shape[2] ? TensorLayout.Nchw
        : shape[1] == shape[2] && shape[3] != shape[1] ? TensorLayout.Nhwc
        : inputLayout;

    /// <summary>Shapes of <paramref name="names"/> after one run at batch 1 on zeros.</summary>
    internal static Dictionary<string, long[]> Probe(ModelProto model, string input, TensorLayout layout, int size, IReadOnlyCollection<string> names)
    {
        var probe = model.Clone();
        probe.Graph.Output.Clear();
        foreach (var name in names)
            probe.Graph.Output.Add(new ValueInfoProto
            {
                Name = name,
                Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float } },
            });
        // The export may pin intermediate shapes to its own batch; ORT infers them again.
        probe.Graph.ValueInfo.Clear();
        long[] shape = layout == TensorLayout.Nchw ? [1, 3, size, size] : [1, size, size, 3];
        return ShapeProbe.Run(Google.Protobuf.MessageExtensions.ToByteArray(probe), input, shape, names.ToList());
    }
}

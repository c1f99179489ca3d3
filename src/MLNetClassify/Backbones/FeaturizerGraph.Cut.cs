using Google.Protobuf;
using MLNetClassify.Onnx;
using Onnx;

namespace MLNetClassify.Backbones;

/// <summary>The middle step: the backbone's nodes up to the cut, its map turned channel-major, a transformer's patch tokens laid out as a map.</summary>
internal static partial class FeaturizerGraph
{
    /// <summary>
    /// Adds the backbone's nodes that the cut needs (dropping its pooling and classifier) and returns the N×C×H×W map to
    /// pool — for a token sequence the patch tokens as a side×side map, or the sequence itself when the class token is
    /// the feature — with the backbone node it comes from.
    /// </summary>
    private static (string Cut, string Source) AddCut(GraphProto graph, ModelProto backbone, BackboneSpec spec, Output output, long opset)
    {
        var g = backbone.Graph;
        if (spec.InputNode is null || (spec.FeatureMapNode ?? spec.FeatureNode) is null)
            throw new ArgumentException(
                $"Backbone '{spec.Name}' does not name its input and feature nodes yet: read the file with Backbone.FromOnnx(path, preset) first.");
        if (g.Input.All(i => i.Name != spec.InputNode))
            throw new InvalidDataException($"Backbone '{spec.Name}' ({spec.ResolveModelFile()}) has no input '{spec.InputNode}'; inputs: {string.Join(", ", g.Input.Select(i => i.Name))}.");
        var view = new GraphView(g);
        if (output != Output.Pooled && spec.FeatureMapNode is null)
            throw new ArgumentException($"Backbone '{spec.Name}' names no feature-map node.", nameof(spec));
        string source = (spec.FeatureMapNode ?? spec.FeatureNode)!;
        if (!view.Producers.ContainsKey(source))
            throw new InvalidDataException($"Backbone '{spec.Name}' has no node output '{source}'.");
        if ((spec.FeatureMapNode is null || !spec.AnyInputSize) && NativeSize(g, spec) is int native && native > 0 && spec.InputSize != native)
            throw new ArgumentException($"Backbone '{spec.Name}' runs at its native size {native} only (it is not fully convolutional up to its features).");

        // Keep only what the cut node needs (drops the pooling and classifier tail).
        var needed = view.Upstream(source);
        foreach (var node in g.Node.Where(needed.Contains))
            graph.Node.Add(node);
        var usedNames = new HashSet<string>(graph.Node.SelectMany(n => n.Input));
        foreach (var init in g.Initializer.Where(t => usedNames.Contains(t.Name)))
        {
            if (spec.Weights == WeightStorage.Float16 && HalfPrecision.TryStore(init, graph))
                continue;
            graph.Initializer.Add(init);
        }

        if (spec.PrefixTokens is int prefix)
        {
            if (spec.Pooling == FeaturePooling.ClassToken && prefix == 0)
                throw new ArgumentException($"Backbone '{spec.Name}' has no class token: its {source} is the patch grid alone; pool it with the average instead.", nameof(spec));
            return output == Output.Pooled && spec.Pooling == FeaturePooling.ClassToken ? (source, source) : (AddPatchGrid(graph, source, spec, prefix, opset), source);
        }
        if (spec.Pooling == FeaturePooling.ClassToken)
            throw new ArgumentException($"Backbone '{spec.Name}' is not a transformer: it has a feature map, no class token.", nameof(spec));
        if (spec.FeatureMapLayout != TensorLayout.Nhwc)
            return (source, source);
        // Pooling and the FeatureMap output are channel-major: turn an N×H×W×C map into N×C×H×W.
        graph.Node.Add(OnnxBuild.Node("Transpose", [source], [$"{Prefix}map_nchw"], OnnxBuild.Ints("perm", 0, 3, 1, 2)));
        return ($"{Prefix}map_nchw", source);
    }

    /// <summary>
    /// The patch tokens of the N×T×C sequence <paramref name="tokens"/> (those after the first <paramref name="prefix"/>)
    /// as an N×C×side×side map, row-major over the grid as patch embeddings flatten it: their global average is the
    /// mean of the patch tokens, and class activation maps fall on the grid.
    /// </summary>
    private static string AddPatchGrid(GraphProto graph, string tokens, BackboneSpec spec, int prefix, long opset)
    {
        int side = spec.FeatureMapSide ?? throw new ArgumentException($"Backbone '{spec.Name}': the patch grid's side is not known; read the file with Backbone.FromOnnx.", nameof(spec));
        string patches = tokens;
        if (prefix > 0)
            patches = AddSlice(graph, tokens, $"{Prefix}patch_tokens", [prefix], [prefix + (long)side * side], [1], opset);
        graph.Node.Add(OnnxBuild.Node("Transpose", [patches], [$"{Prefix}patch_channels"], OnnxBuild.Ints("perm", 0, 2, 1)));
        graph.Initializer.Add(OnnxBuild.Int64s($"{Prefix}grid_shape", [4], [0, spec.Channels, side, side])); // 0: the batch as it is
        graph.Node.Add(OnnxBuild.Node("Reshape", [$"{Prefix}patch_channels", $"{Prefix}grid_shape"], [$"{Prefix}patch_grid"]));
        return $"{Prefix}patch_grid";
    }

    /// <summary>A Slice node (attributes before opset 10, inputs from 10); returns <paramref name="output"/>.</summary>
    private static string AddSlice(GraphProto graph, string input, string output, long[] starts, long[] ends, long[] axes, long opset)
    {
        if (opset < 10)
        {
            graph.Node.Add(OnnxBuild.Node("Slice", [input], [output], OnnxBuild.Ints("starts", starts), OnnxBuild.Ints("ends", ends), OnnxBuild.Ints("axes", axes)));
            return output;
        }
        graph.Initializer.Add(OnnxBuild.Int64s($"{output}_starts", [starts.Length], starts));
        graph.Initializer.Add(OnnxBuild.Int64s($"{output}_ends", [ends.Length], ends));
        graph.Initializer.Add(OnnxBuild.Int64s($"{output}_axes", [axes.Length], axes));
        graph.Node.Add(OnnxBuild.Node("Slice", [input, $"{output}_starts", $"{output}_ends", $"{output}_axes"], [output]));
        return output;
    }

    private static int NativeSize(GraphProto g, BackboneSpec spec)
    {
        var dims = g.Input.First(i => i.Name == spec.InputNode).Type.TensorType.Shape.Dim;
        return (int)dims[spec.Layout == TensorLayout.Nhwc ? 1 : dims.Count - 1].DimValue; // 0 when symbolic
    }

    internal static long OpsetOf(ModelProto model) =>
        model.OpsetImport.Where(o => o.Domain is "" or "ai.onnx").Select(o => o.Version).DefaultIfEmpty(1).Max();

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

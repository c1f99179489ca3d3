using Google.Protobuf;
using MLNetClassify.Onnx;
using Onnx;

namespace MLNetClassify.Backbones;

internal static partial class FeaturizerGraph
{
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
        var large = ModelProto.Parser.ParseFrom(BuildCore(single with { InputSize = 2 * spec.InputSize }, Output.Pooled));
        var small = ModelProto.Parser.ParseFrom(BuildCore(single, Output.Pooled));

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
}

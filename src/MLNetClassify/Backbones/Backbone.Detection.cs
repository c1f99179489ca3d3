using Microsoft.ML.OnnxRuntime;
using MLNetClassify.Onnx;
using Onnx;

namespace MLNetClassify.Backbones;

internal static partial class Backbone
{
    /// <summary>Ops a classifier tail is made of, after the feature map: each passes one tensor on.</summary>
    private static readonly HashSet<string> TailOps =
    [
        "Softmax", "LogSoftmax", "Gemm", "MatMul", "Add", "Sub", "Mul", "Div", "Relu", "Sigmoid", "Clip", "Dropout", "Identity",
        "Squeeze", "Unsqueeze", "Cast", "BatchNormalization", "Flatten", "Reshape",
    ];

    /// <summary>Ops whose outputs can be a spatial feature map; the last few are offered as candidates.</summary>
    private static readonly HashSet<string> MapOps =
    [
        "Conv", "Relu", "Clip", "Add", "Mul", "Concat", "BatchNormalization", "MaxPool", "AveragePool", "Sigmoid", "Transpose", "LeakyRelu",
    ];

    /// <summary>
    /// Walks back from the output through the classifier tail to the feature map: the input of the last global pool
    /// (GlobalAveragePool, GlobalMaxPool, ReduceMean/ReduceMax over the spatial axes, an Average/MaxPool to 1×1), or the
    /// 4-D tensor the tail flattens; or to a vision transformer's token sequence N×T×C: the one its class token is
    /// gathered or sliced from, the one averaged over its tokens, or the encoder's output itself.
    /// </summary>
    private static (string Node, TensorLayout? Layout) FindFeatureMap(GraphView graph, string path, ModelProto model, string input, TensorLayout layout, int size)
    {
        var g = graph.Graph;
        bool IsTokens(string name)
        {
            try
            {
                return Probe(model, input, layout, size, [name])[name].Length == 3;
            }
            catch (Exception e) when (e is OnnxRuntimeException or InvalidOperationException)
            {
                return false; // the undecidable message that follows lists what can be probed
            }
        }
        if (g.Output.Count != 1)
        {
            // An encoder exported with several outputs (a token sequence and a pooled vector, say): its one sequence.
            var sequences = g.Output.Select(o => o.Name).Where(IsTokens).ToList();
            if (sequences.Count == 1)
                return (sequences[0], null);
            throw Undecidable(graph, path, model, input, layout, size, $"it has {g.Output.Count} outputs ({string.Join(", ", g.Output.Select(o => o.Name))})");
        }
        string t = g.Output[0].Name;
        while (true)
        {
            if (!graph.Producers.TryGetValue(t, out var node))
                throw Undecidable(graph, path, model, input, layout, size, $"the walk back from the output reached '{t}' without meeting a spatial map");
            switch (node.OpType)
            {
                case "GlobalAveragePool" or "GlobalMaxPool":
                    return (node.Input[0], TensorLayout.Nchw);
                case "Gather" or "Slice" when IsTokens(node.Input[0]):
                    return (node.Input[0], null); // a transformer's class token taken from its sequence
                case "ReduceMean" or "ReduceMax":
                    var axes = ReduceAxes(node, g);
                    if (axes.SetEquals([1]) && IsTokens(node.Input[0])) return (node.Input[0], null); // the tokens' mean
                    if (axes.SetEquals([2, 3]) || axes.SetEquals([-2, -1])) return (node.Input[0], TensorLayout.Nchw);
                    if (axes.SetEquals([1, 2])) return (node.Input[0], TensorLayout.Nhwc);
                    throw Undecidable(graph, path, model, input, layout, size, $"{node.OpType} '{node.Name}' reduces axes [{string.Join(",", axes)}], not the spatial ones");
                case "AveragePool" or "MaxPool":
                    var pooled = Probe(model, input, layout, size, [t])[t];
                    return pooled.Length == 4 && pooled[2] == 1 && pooled[3] == 1 ? (node.Input[0], TensorLayout.Nchw) : (t, null);
                case "Flatten" or "Reshape":
                    var x = node.Input[0];
                    if (graph.Producers.TryGetValue(x, out var before) && before.OpType is "GlobalAveragePool" or "GlobalMaxPool" or "ReduceMean" or "ReduceMax" or "AveragePool" or "MaxPool")
                    {
                        t = x;
                        continue;
                    }
                    return (x, null); // the tail flattens a spatial map: that map is the feature map
                case var op when TailOps.Contains(op):
                    var dynamic = graph.Dynamic(node);
                    if (dynamic.Count != 1 && IsTokens(t))
                        return (t, null); // an encoder's output sequence (its last residual Add)
                    if (dynamic.Count != 1)
                        throw Undecidable(graph, path, model, input, layout, size,
                            $"{op} '{node.Name}' in the classifier tail joins {dynamic.Count} computed tensors ({string.Join(", ", dynamic)})");
                    t = dynamic[0];
                    continue;
                default:
                    if (IsTokens(t))
                        return (t, null); // an encoder's output sequence (after its last LayerNormalization, say)
                    throw Undecidable(graph, path, model, input, layout, size, $"the tail reaches {node.OpType} '{node.Name}' before any pooling or flattening");
            }
        }
    }

    private static HashSet<long> ReduceAxes(NodeProto node, GraphProto g)
    {
        if (node.Attribute.FirstOrDefault(a => a.Name == "axes") is { } attribute)
            return [.. attribute.Ints];
        // Opset 18: axes as a constant second input.
        if (node.Input.Count > 1 && g.Initializer.FirstOrDefault(t => t.Name == node.Input[1]) is { } tensor)
            return [.. tensor.Int64Data.Count > 0 ? tensor.Int64Data : Enumerable.Range(0, tensor.RawData.Length / 8).Select(i => BitConverter.ToInt64(tensor.RawData.Span.Slice(8 * i, 8)))];
        return [];
    }

    /// <summary>The last spatial-looking node outputs, in graph order.</summary>
    private static List<string> Candidates(GraphView graph) =>
        graph.Graph.Node.Where(n => MapOps.Contains(n.OpType)).SelectMany(n => n.Output.Take(1)).TakeLast(6).ToList();

    private static InvalidDataException Undecidable(GraphView graph, string path, ModelProto model, string input, TensorLayout layout, int size, string why)
    {
        var names = Candidates(graph);
        string listed;
        try
        {
            var shapes = Probe(model, input, layout, size, names);
            listed = string.Join("; ", names.Where(n => shapes[n].Length == 4).Select(n => $"{n} [{string.Join("x", shapes[n])}]"));
        }
        catch (Exception e) when (e is OnnxRuntimeException or InvalidOperationException)
        {
            listed = string.Join("; ", names);
        }
        return new InvalidDataException(
            $"Cannot decide which node of {path} holds the feature map: {why}. Candidates (last spatial outputs, shapes at {size}): {listed}. " +
            "Name one with Backbone.FromOnnx(path, featureNode: \"NAME\") or --feature-node NAME.");
    }

    /// <summary>
    /// The catalogue preset named in the file name (longest name wins). Its preprocessing applies; the input size
    /// stays the one the file declares.
    /// </summary>
    private static string? MatchPreset(string path)
    {
        static string Normalize(string s) => string.Concat(s.ToLowerInvariant().Where(char.IsAsciiLetterOrDigit));
        var file = Normalize(Path.GetFileNameWithoutExtension(path));
        return BackboneCatalog.All
            .Where(b => !b.Embedded && file.Contains(Normalize(b.Name[(b.Name.IndexOf('/') + 1)..])))
            .OrderByDescending(b => b.Name.Length)
            .Select(b => b.Name)
            .FirstOrDefault();
    }
}

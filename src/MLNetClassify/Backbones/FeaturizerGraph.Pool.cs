using System.Collections.Concurrent;
using Microsoft.ML.OnnxRuntime;
using MLNetClassify.Onnx;
using Onnx;

namespace MLNetClassify.Backbones;

/// <summary>The last step: the cut feature map pooled into the features (or passed on unpooled).</summary>
internal static partial class FeaturizerGraph
{
    /// <summary>Adds the graph's output for <paramref name="output"/>, computed from the N×C×H×W map <paramref name="cut"/> (a token sequence for <see cref="FeaturePooling.ClassToken"/>).</summary>
    private static void AddOutput(GraphProto graph, ModelProto backbone, BackboneSpec spec, string cut, Output output)
    {
        switch (output)
        {
            case Output.Pieces:
                AddPooledPieces(graph, backbone, spec, cut, PieceNames, [0, 1, 2, 3]);
                break;
            case Output.Pooled when spec.Pooling == FeaturePooling.ClassToken:
                // Gather with a scalar index drops the token axis: N×T×C -> N×C.
                graph.Initializer.Add(OnnxBuild.Int64s($"{Prefix}class_token", [], [0]));
                graph.Node.Add(OnnxBuild.Node("Gather", [cut, $"{Prefix}class_token"], [OutputName], OnnxBuild.Attr("axis", 1)));
                graph.Output.Add(OnnxBuild.Tensor(OutputName, TensorProto.Types.DataType.Float, "N", spec.Channels));
                break;
            case Output.Pooled when spec.Pooling == FeaturePooling.Rich:
                if (spec.FeatureMapNode is null || spec.PrefixTokens is not null)
                    throw new ArgumentException($"Backbone '{spec.Name}' has no feature map with a mid-level one before it (it names none, or is a transformer's token sequence), so its features cannot be pooled richly.", nameof(spec));
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
    }

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
        using var session = new InferenceSession(BuildCore(plain, Output.Pieces), options);
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

}

using Google.Protobuf;
using MLNetClassify.Backbones;
using MLNetClassify.Onnx;
using Onnx;

namespace MLNetClassify.Tuning;

/// <summary>
/// The graphs a stage fine-tune moves between, all derived from one pooled featurizer graph (FeaturizerGraph.Build, or
/// one read back from a saved model): the featurizer cut at the stage's input (what is cached per image), the stage
/// itself with BatchNormalization folded (what trains), and the featurizer with a tuned stage in place of its own
/// (what is saved). Cutting from the featurizer graph rather than from the backbone file means the cached maps and the
/// saved model's earlier stages come from the very same weights (float16-stored ones included).
/// </summary>
internal static class StageGraphs
{
    /// <summary>
    /// <paramref name="featurizerGraph"/> whose <see cref="FeaturizerGraph.OutputName"/> output is instead the tensor
    /// <paramref name="map"/> ([N, C, H, W] with [C, H, W] = <paramref name="mapShape"/>) flattened to [N, C·H·W]; the
    /// nodes only the old output needed are dropped.
    /// </summary>
    /// <exception cref="ArgumentException">The graph produces no tensor <paramref name="map"/>.</exception>
    public static byte[] CutAt(byte[] featurizerGraph, string map, int[] mapShape)
    {
        var model = ModelProto.Parser.ParseFrom(featurizerGraph);
        var g = model.Graph;
        if (!new GraphView(g).Producers.ContainsKey(map))
            throw new ArgumentException($"The featurizer graph produces no tensor '{map}'.", nameof(map));
        foreach (var node in g.Node.Where(n => n.Output.Contains(FeaturizerGraph.OutputName)).ToList())
            g.Node.Remove(node);
        g.Output.Clear();
        g.Node.Add(OnnxBuild.Node("Flatten", [map], [FeaturizerGraph.OutputName], OnnxBuild.Attr("axis", 1)));
        g.Output.Add(OnnxBuild.Tensor(FeaturizerGraph.OutputName, TensorProto.Types.DataType.Float, "N", mapShape.Aggregate(1L, (p, d) => p * d)));
        g.Name += $"_cut_{map}";
        RemoveDeadNodes(g);
        return model.ToByteArray();
    }

    /// <summary>
    /// The part of <paramref name="featurizerGraph"/> from tensor <paramref name="from"/> to tensor <paramref name="to"/>
    /// (<see cref="TailGraph.Cut"/>), float16-stored weights read as the float32 values the graph computes with, and
    /// BatchNormalization folded into the convolutions (<see cref="BatchNormFolding.Fold"/>).
    /// </summary>
    public static ModelProto FoldedStage(byte[] featurizerGraph, string from, string to)
    {
        var model = ModelProto.Parser.ParseFrom(featurizerGraph);
        MaterializeHalfWeights(model.Graph);
        return BatchNormFolding.Fold(TailGraph.Cut(model, from, to));
    }

    /// <summary>
    /// <paramref name="featurizerGraph"/> with the nodes between the tensors <paramref name="stage"/> takes and gives
    /// replaced by <paramref name="stage"/>'s (a graph from <see cref="FoldedStage"/>), its parameters set to <paramref name="values"/> (by name; the stage's own where
    /// absent) and stored as float32. Inputs, outputs and everything before and after the stage are unchanged.
    /// </summary>
    /// <exception cref="ArgumentException">The featurizer graph lacks the stage's input or output, a value's length is wrong, or a name collides.</exception>
    public static byte[] WithStage(byte[] featurizerGraph, ModelProto stage, IReadOnlyDictionary<string, float[]>? values = null)
    {
        ArgumentNullException.ThrowIfNull(stage);
        string from = stage.Graph.Input.Single(i => stage.Graph.Initializer.All(t => t.Name != i.Name)).Name;
        string to = stage.Graph.Output.Single().Name;
        var model = ModelProto.Parser.ParseFrom(featurizerGraph);
        var g = model.Graph;
        var view = new GraphView(g);
        if (!view.Producers.TryGetValue(from, out var before) || !view.Producers.ContainsKey(to))
            throw new ArgumentException($"The featurizer graph has no tensor '{(view.Producers.ContainsKey(from) ? to : from)}' for the stage to sit between.", nameof(stage));
        var upstream = view.Upstream(from).ToHashSet();
        var old = view.Upstream(to).Where(n => !upstream.Contains(n)).ToHashSet();
        foreach (var node in old)
            g.Node.Remove(node);
        g.Node.Insert(g.Node.IndexOf(before) + 1, OnnxBuild.Node("Identity", [from], ["mlnc_stage_placeholder"]));
        RemoveDeadNodes(g, keep: "mlnc_stage_placeholder");

        var produced = g.Node.SelectMany(n => n.Output).Concat(g.Initializer.Select(t => t.Name)).ToHashSet();
        foreach (var t in stage.Graph.Initializer)
        {
            if (produced.Contains(t.Name))
                throw new ArgumentException($"The stage's parameter '{t.Name}' collides with a tensor the rest of the featurizer graph keeps.", nameof(stage));
            float[]? v = values is not null && values.TryGetValue(t.Name, out var given) ? given : null;
            if (v is not null && v.Length != t.Dims.Aggregate(1L, (p, d) => p * d))
                throw new ArgumentException($"Parameter '{t.Name}' has {v.Length} values; its shape [{string.Join(", ", t.Dims)}] holds {t.Dims.Aggregate(1L, (p, d) => p * d)}.", nameof(values));
            g.Initializer.Add(v is null ? t.Clone() : OnnxBuild.Floats(t.Name, [.. t.Dims], v));
        }
        int at = g.Node.IndexOf(g.Node.Single(n => n.Output.Count == 1 && n.Output[0] == "mlnc_stage_placeholder"));
        g.Node.RemoveAt(at);
        // The stage's nodes read only its input and its parameters: right after the input's producer they are in order.
        foreach (var (node, i) in stage.Graph.Node.Select((n, i) => (n, i)))
            g.Node.Insert(at + i, node.Clone());
        model.DocString += $" Stage {from} -> {to} fine-tuned (BatchNormalization folded).";
        return model.ToByteArray();
    }

    /// <summary>A copy of <paramref name="stage"/> whose initializers named in <paramref name="values"/> hold those values.</summary>
    public static ModelProto WithValues(ModelProto stage, IReadOnlyDictionary<string, float[]> values)
    {
        var copy = stage.Clone();
        var g = copy.Graph;
        for (int i = 0; i < g.Initializer.Count; i++)
            if (values.TryGetValue(g.Initializer[i].Name, out var v))
                g.Initializer[i] = OnnxBuild.Floats(g.Initializer[i].Name, [.. g.Initializer[i].Dims], v);
        return copy;
    }

    /// <summary>Replaces each float16 Constant + Cast-to-float pair (<see cref="HalfPrecision"/>) by a float32 initializer of the same values.</summary>
    private static void MaterializeHalfWeights(GraphProto g)
    {
        var constants = g.Node.Where(n => n.OpType == "Constant" && n.Output.Count == 1).ToDictionary(n => n.Output[0]);
        foreach (var cast in g.Node.Where(n => n.OpType == "Cast" && n.Input.Count == 1 && constants.ContainsKey(n.Input[0])).ToList())
        {
            var constant = constants[cast.Input[0]];
            var tensor = constant.Attribute.FirstOrDefault(a => a.Name == "value")?.T;
            if (tensor is null || tensor.DataType != (int)TensorProto.Types.DataType.Float16 || tensor.RawData.Length == 0
                || cast.Attribute.FirstOrDefault(a => a.Name == "to")?.I != (long)TensorProto.Types.DataType.Float)
                continue;
            var bytes = tensor.RawData.Span;
            var floats = new float[bytes.Length / 2];
            for (int i = 0; i < floats.Length; i++)
                floats[i] = (float)BitConverter.UInt16BitsToHalf(System.Buffers.Binary.BinaryPrimitives.ReadUInt16LittleEndian(bytes[(2 * i)..]));
            g.Initializer.Add(OnnxBuild.Floats(cast.Output[0], [.. tensor.Dims], floats));
            g.Node.Remove(cast);
            if (!g.Node.Any(n => n.Input.Contains(constant.Output[0])))
                g.Node.Remove(constant);
        }
    }

    /// <summary>Drops nodes whose outputs nothing reads (graph outputs and <paramref name="keep"/> count as read), then unread initializers.</summary>
    private static void RemoveDeadNodes(GraphProto g, string? keep = null)
    {
        while (true)
        {
            var read = g.Node.SelectMany(n => n.Input).Concat(g.Output.Select(o => o.Name)).ToHashSet();
            var dead = g.Node.Where(n => n.Output.All(o => o.Length == 0 || (!read.Contains(o) && o != keep))).ToList();
            if (dead.Count == 0) break;
            foreach (var n in dead) g.Node.Remove(n);
        }
        var used = g.Node.SelectMany(n => n.Input).ToHashSet();
        foreach (var t in g.Initializer.Where(t => !used.Contains(t.Name)).ToList())
        {
            g.Initializer.Remove(t);
            if (g.Input.FirstOrDefault(i => i.Name == t.Name) is { } input) g.Input.Remove(input);
        }
    }
}

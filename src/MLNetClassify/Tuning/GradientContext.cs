using MLNetClassify.Onnx;
using Onnx;

namespace MLNetClassify.Tuning;

/// <summary>
/// The graph a backward pass is written into: fresh tensor names, constants, the static shapes (batch −1), which
/// tensors need a gradient (those computed from a parameter, and the parameters), and each tensor's gradient
/// contributions, summed when a tensor feeds several nodes (a residual branch and its shortcut).
/// </summary>
internal sealed class GradientContext(GraphProto graph, Dictionary<string, long[]> shapes, HashSet<string> needsGradient)
{
    private readonly Dictionary<string, List<string>> _contributions = [];
    private int _counter;

    public GraphProto Graph { get; } = graph;
    public Dictionary<string, long[]> Shapes { get; } = shapes;

    /// <summary>Whether <paramref name="tensor"/>'s gradient is wanted.</summary>
    public bool Needs(string tensor) => needsGradient.Contains(tensor);

    /// <summary>Adds a node computing one new tensor shaped <paramref name="shape"/>; returns its name.</summary>
    public string Emit(string op, string[] inputs, long[] shape, params AttributeProto[] attributes)
    {
        string output = $"mlnc_bw{_counter++}_{op}";
        Graph.Node.Add(OnnxBuild.Node(op, inputs, [output], attributes));
        Shapes[output] = shape;
        return output;
    }

    /// <summary>A float constant with the given dims (none for a scalar).</summary>
    public string Floats(float[] values, params long[] dims)
    {
        string name = $"mlnc_bw{_counter++}_const";
        Graph.Initializer.Add(OnnxBuild.Floats(name, dims, values));
        Shapes[name] = dims;
        return name;
    }

    /// <summary>A 1-D int64 constant (axes, shapes, slice bounds).</summary>
    public string Int64s(params long[] values)
    {
        string name = $"mlnc_bw{_counter++}_ints";
        Graph.Initializer.Add(OnnxBuild.Int64s(name, [values.Length], values));
        Shapes[name] = [values.Length];
        return name;
    }

    /// <summary>Records <paramref name="gradient"/> as one contribution to <paramref name="tensor"/>'s gradient, if it needs one.</summary>
    public void Accumulate(string tensor, string gradient)
    {
        if (!Needs(tensor)) return;
        if (!_contributions.TryGetValue(tensor, out var list))
            _contributions[tensor] = list = [];
        list.Add(gradient);
    }

    /// <summary>The total gradient of <paramref name="tensor"/>, or null when nothing downstream contributed.</summary>
    public string? GradientOf(string tensor)
    {
        if (!_contributions.TryGetValue(tensor, out var list)) return null;
        if (list.Count == 1) return list[0];
        string sum = Emit("Sum", [.. list], Shapes[tensor]);
        _contributions[tensor] = [sum];
        return sum;
    }

    /// <summary>
    /// <paramref name="gradient"/> (shaped like a broadcast result) summed back onto <paramref name="target"/>'s shape:
    /// over the leading axes the target lacks and the axes where it has size 1.
    /// </summary>
    public string Unbroadcast(string gradient, string target)
    {
        var from = Shapes[gradient];
        var to = Shapes[target];
        if (from.SequenceEqual(to)) return gradient;
        int lead = from.Length - to.Length;
        var axes = Enumerable.Range(0, from.Length).Where(i => i < lead || (to[i - lead] == 1 && from[i] != 1)).Select(i => (long)i).ToArray();
        var kept = from.Select((d, i) => axes.Contains(i) ? 1 : d).ToArray();
        string summed = axes.Length == 0 ? gradient : Emit("ReduceSum", [gradient, Int64s(axes)], kept, OnnxBuild.Attr("keepdims", 1));
        return kept.SequenceEqual(to) ? summed : Emit("Reshape", [summed, Int64s(to)], to);
    }
}

using MLNetClassify.Onnx;
using Onnx;

namespace MLNetClassify.Tuning;

/// <summary>
/// Static shape inference for a tail's operators, the batch written −1: the backward rules need every size but the
/// batch (a transposed convolution's output padding, a pooling gradient's broadcast).
/// </summary>
internal static class TailShapes
{
    public const long Batch = -1;

    /// <exception cref="NotSupportedException">An operator moves the batch off the first axis, or its inputs do not fit.</exception>
    public static Dictionary<string, long[]> Infer(IEnumerable<NodeProto> nodes, string input, int[] inputShape, IReadOnlyDictionary<string, TensorProto> initializers)
    {
        var shapes = initializers.ToDictionary(p => p.Key, p => p.Value.Dims.ToArray());
        shapes[input] = [Batch, .. inputShape.Select(d => (long)d)];
        foreach (var node in nodes)
        {
            var x = shapes[node.Input[0]];
            shapes[node.Output[0]] = node.OpType switch
            {
                "Conv" => ConvGeometry.Of(node, shapes) is var g ? [x[0], shapes[node.Input[1]][0], g.OutH, g.OutW] : null!,
                "Relu" => x,
                "Add" => Broadcast(node, x, shapes[node.Input[1]]),
                "GlobalAveragePool" => [x[0], x[1], .. Enumerable.Repeat(1L, x.Length - 2)],
                "ReduceMean" => Reduced(node, x, initializers),
                "Flatten" => Flattened(node, x),
                "Reshape" => Reshaped(node, x, initializers),
                "Gemm" => Gemm(node, x, shapes[node.Input[1]]),
                "MatMul" => x.Length == 2 && shapes[node.Input[1]] is { Length: 2 } b && b[0] == x[1]
                    ? [x[0], b[1]]
                    : throw new NotSupportedException($"MatMul '{node.Name}' is not [N, K]·[K, M] with a weight matrix."),
                _ => throw new NotSupportedException($"Node '{node.Name}' ({node.OpType}) has no shape rule."),
            };
            if (node.OpType != "Add" && node.Input.Skip(1).Where(i => i.Length > 0).Any(i => !initializers.ContainsKey(i)))
                throw new NotSupportedException($"Node '{node.Name}' ({node.OpType}) takes a computed tensor where a weight or constant is expected.");
            if (shapes[node.Output[0]][0] != Batch)
                throw new NotSupportedException($"Node '{node.Name}' ({node.OpType}) moves the batch off the first axis.");
        }
        return shapes;
    }

    private static long[] Broadcast(NodeProto node, long[] a, long[] b)
    {
        int rank = Math.Max(a.Length, b.Length);
        var result = new long[rank];
        for (int i = 0; i < rank; i++)
        {
            long da = i - (rank - a.Length) >= 0 ? a[i - (rank - a.Length)] : 1;
            long db = i - (rank - b.Length) >= 0 ? b[i - (rank - b.Length)] : 1;
            result[i] = da == db ? da : da == 1 ? db : db == 1 ? da
                : throw new NotSupportedException($"Add '{node.Name}': shapes [{string.Join(", ", a)}] and [{string.Join(", ", b)}] do not broadcast.");
        }
        return result;
    }

    /// <summary>The axes a ReduceMean averages over, from its attribute (opsets before 18) or its constant second input.</summary>
    public static long[] ReduceAxes(NodeProto node, long rank, IReadOnlyDictionary<string, TensorProto> initializers)
    {
        long[] axes = node.Attribute.FirstOrDefault(a => a.Name == "axes") is { } attr ? [.. attr.Ints]
            : node.Input.Count > 1 && initializers.TryGetValue(node.Input[1], out var t) ? (t.Int64Data.Count > 0 ? [.. t.Int64Data] : ReadInt64s(t))
            : throw new NotSupportedException($"ReduceMean '{node.Name}' reduces every axis, the batch too.");
        return [.. axes.Select(a => a < 0 ? a + rank : a).Order()];
    }

    public static bool KeepDims(NodeProto node) => node.Attribute.FirstOrDefault(a => a.Name == "keepdims") is not { } k || k.I != 0;

    private static long[] Reduced(NodeProto node, long[] x, IReadOnlyDictionary<string, TensorProto> initializers)
    {
        var axes = ReduceAxes(node, x.Length, initializers);
        if (axes.Contains(0))
            throw new NotSupportedException($"ReduceMean '{node.Name}' averages over the batch.");
        return KeepDims(node)
            ? [.. x.Select((d, i) => axes.Contains(i) ? 1 : d)]
            : [.. x.Where((_, i) => !axes.Contains(i))];
    }

    private static long[] Flattened(NodeProto node, long[] x)
    {
        long axis = node.Attribute.FirstOrDefault(a => a.Name == "axis")?.I ?? 1;
        if (axis < 0) axis += x.Length;
        if (axis != 1)
            throw new NotSupportedException($"Flatten '{node.Name}' has axis {axis}; only axis 1 keeps the batch apart.");
        return [x[0], x.Skip(1).Aggregate(1L, (p, d) => p * d)];
    }

    private static long[] Reshaped(NodeProto node, long[] x, IReadOnlyDictionary<string, TensorProto> initializers)
    {
        if (!initializers.TryGetValue(node.Input[1], out var t))
            throw new NotSupportedException($"Reshape '{node.Name}' takes a computed shape.");
        var target = t.Int64Data.Count > 0 ? t.Int64Data.ToArray() : ReadInt64s(t);
        long rest = x.Skip(1).Aggregate(1L, (p, d) => p * d);
        var tail = target.Skip(1).Select((d, i) => d == 0 ? x[i + 1] : d).ToArray();
        if (target.Length == 0 || target[0] is not (0 or -1) || tail.Any(d => d <= 0) || tail.Aggregate(1L, (p, d) => p * d) != rest)
            throw new NotSupportedException($"Reshape '{node.Name}' to [{string.Join(", ", target)}] does not keep the batch first with the other sizes explicit.");
        return [Batch, .. tail];
    }

    private static long[] Gemm(NodeProto node, long[] a, long[] b)
    {
        bool transA = node.Attribute.FirstOrDefault(x => x.Name == "transA")?.I == 1;
        bool transB = node.Attribute.FirstOrDefault(x => x.Name == "transB")?.I == 1;
        if (transA || a.Length != 2 || b.Length != 2 || (transB ? b[1] : b[0]) != a[1])
            throw new NotSupportedException($"Gemm '{node.Name}' is not [N, K]·op(W) with the batch first (transA must be 0).");
        return [a[0], transB ? b[0] : b[1]];
    }

    private static long[] ReadInt64s(TensorProto t)
    {
        var bytes = t.RawData.ToByteArray();
        var values = new long[bytes.Length / 8];
        Buffer.BlockCopy(bytes, 0, values, 0, bytes.Length);
        return values;
    }
}

using MLNetClassify.Onnx;
using Onnx;

namespace MLNetClassify.Tuning;

/// <summary>Gradients of the averaging and reshaping operators between a feature map and a head.</summary>
internal static class PoolingBackward
{
    /// <summary>Y = mean of X over H·W (GlobalAveragePool): dX = dY / (H·W), broadcast over H, W.</summary>
    public static void GlobalAveragePool(GradientContext c, NodeProto node, string dY)
    {
        var xShape = c.Shapes[node.Input[0]];
        Spread(c, node.Input[0], dY, Enumerable.Range(2, xShape.Length - 2).Select(i => (long)i).ToArray());
    }

    /// <summary>ReduceMean over some non-batch axes: dY, its reduced axes restored as 1, over their size, broadcast.</summary>
    public static void ReduceMean(GradientContext c, NodeProto node, string dY, IReadOnlyDictionary<string, TensorProto> constants)
    {
        var xShape = c.Shapes[node.Input[0]];
        var axes = TailShapes.ReduceAxes(node, xShape.Length, constants);
        string kept = dY;
        if (!TailShapes.KeepDims(node))
        {
            long[] shape = [.. xShape.Select((d, i) => axes.Contains(i) ? 1 : d)];
            kept = c.Emit("Reshape", [dY, c.Int64s(shape)], shape);
        }
        Spread(c, node.Input[0], kept, axes);
    }

    private static void Spread(GradientContext c, string x, string dY, long[] axes)
    {
        if (!c.Needs(x)) return;
        var xShape = c.Shapes[x];
        long count = axes.Aggregate(1L, (p, a) => p * xShape[a]);
        string scaled = c.Emit("Mul", [dY, c.Floats([1f / count])], c.Shapes[dY]);
        // Expand broadcasts [N, C, 1, 1] against [1, C, H, W]: the batch stays whatever it is.
        long[] target = [1, .. xShape.Skip(1)];
        c.Accumulate(x, c.Emit("Expand", [scaled, c.Int64s(target)], xShape));
    }

    /// <summary>Flatten or Reshape (batch kept first): dX is dY reshaped back to X's shape.</summary>
    public static void Reshape(GradientContext c, NodeProto node, string dY)
    {
        string x = node.Input[0];
        if (c.Needs(x))
            c.Accumulate(x, c.Emit("Reshape", [dY, c.Int64s(c.Shapes[x])], c.Shapes[x]));
    }
}

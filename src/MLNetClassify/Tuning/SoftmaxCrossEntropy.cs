using MLNetClassify.Onnx;
using Onnx;

namespace MLNetClassify.Tuning;

/// <summary>
/// Mean softmax cross-entropy of logits Z [N, K] against target rows T [N, K] (one-hot, or any rows that sum to 1),
/// with optional label smoothing T' = (1 − ε)·T + ε/K: loss = −(1/N)·Σ T'·log softmax(Z), and its gradient
/// dZ = (softmax(Z) − T')/N, which holds because each row of T' sums to 1.
/// </summary>
internal static class SoftmaxCrossEntropy
{
    /// <summary>Writes the loss (a scalar named <paramref name="lossName"/>) into the graph; returns the name of dZ, or null when <paramref name="withGradient"/> is false.</summary>
    public static string? Append(GradientContext c, string logits, string targets, float labelSmoothing, string lossName, bool withGradient)
    {
        var shape = c.Shapes[logits];
        long classes = shape[1];
        string t = targets;
        if (labelSmoothing > 0)
        {
            string kept = c.Emit("Mul", [targets, c.Floats([1 - labelSmoothing])], shape);
            t = c.Emit("Add", [kept, c.Floats([labelSmoothing / classes])], shape);
        }
        string logp = c.Emit("LogSoftmax", [logits], shape, OnnxBuild.Attr("axis", 1));
        string product = c.Emit("Mul", [t, logp], shape);
        string rows = c.Emit("ReduceSum", [product, c.Int64s(1)], [shape[0]], OnnxBuild.Attr("keepdims", 0));
        string mean = c.Emit("ReduceMean", [rows], [], OnnxBuild.Ints("axes", 0), OnnxBuild.Attr("keepdims", 0));
        c.Graph.Node.Add(OnnxBuild.Node("Neg", [mean], [lossName]));
        c.Shapes[lossName] = [];
        if (!withGradient) return null;
        string p = c.Emit("Exp", [logp], shape);
        string diff = c.Emit("Sub", [p, t], shape);
        string batch = c.Emit("Gather", [c.Emit("Shape", [logits], [2]), c.Int64s(0)], [1], OnnxBuild.Attr("axis", 0));
        string n = c.Emit("Cast", [batch], [1], OnnxBuild.Attr("to", (long)TensorProto.Types.DataType.Float));
        return c.Emit("Div", [diff, n], shape);
    }
}

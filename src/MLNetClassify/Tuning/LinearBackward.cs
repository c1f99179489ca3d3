using MLNetClassify.Onnx;
using Onnx;

namespace MLNetClassify.Tuning;

/// <summary>Gradients of Gemm, MatMul, Add and Relu.</summary>
internal static class LinearBackward
{
    /// <summary>
    /// Y = α·A·op(B) + β·C with A [N, K] (transA 0): dA = α·dY·op(B)ᵀ, dB = α·dYᵀ·A (transB 1, B [M, K]) or α·Aᵀ·dY
    /// (transB 0, B [K, M]), dC = β·dY summed onto C's shape.
    /// </summary>
    public static void Gemm(GradientContext c, NodeProto node, string dY)
    {
        string a = node.Input[0], b = node.Input[1];
        float alpha = node.Attribute.FirstOrDefault(x => x.Name == "alpha")?.F ?? 1f;
        float beta = node.Attribute.FirstOrDefault(x => x.Name == "beta")?.F ?? 1f;
        bool transB = node.Attribute.FirstOrDefault(x => x.Name == "transB")?.I == 1;
        MatrixProduct(c, a, b, dY, alpha, transB);
        if (node.Input.Count > 2 && node.Input[2].Length > 0 && c.Needs(node.Input[2]))
        {
            string scaled = beta == 1f ? dY : c.Emit("Mul", [dY, c.Floats([beta])], c.Shapes[dY]);
            c.Accumulate(node.Input[2], c.Unbroadcast(scaled, node.Input[2]));
        }
    }

    /// <summary>Y = A·B with A [N, K] and B [K, M]: Gemm's rule with α = 1, transB = 0.</summary>
    public static void MatMul(GradientContext c, NodeProto node, string dY) => MatrixProduct(c, node.Input[0], node.Input[1], dY, 1f, false);

    private static void MatrixProduct(GradientContext c, string a, string b, string dY, float alpha, bool transB)
    {
        var alphaAttr = OnnxBuild.Float("alpha", alpha);
        if (c.Needs(a))
            c.Accumulate(a, c.Emit("Gemm", [dY, b], c.Shapes[a], alphaAttr, OnnxBuild.Attr("transB", transB ? 0 : 1)));
        if (c.Needs(b))
            c.Accumulate(b, transB
                ? c.Emit("Gemm", [dY, a], c.Shapes[b], alphaAttr, OnnxBuild.Attr("transA", 1))
                : c.Emit("Gemm", [a, dY], c.Shapes[b], alphaAttr, OnnxBuild.Attr("transA", 1)));
    }

    /// <summary>Y = A + B (broadcasting): each operand gets dY summed onto its shape.</summary>
    public static void Add(GradientContext c, NodeProto node, string dY)
    {
        foreach (var input in node.Input.Distinct())
        {
            if (!c.Needs(input)) continue;
            string g = c.Unbroadcast(dY, input);
            c.Accumulate(input, g);
            if (node.Input[0] == node.Input[1]) c.Accumulate(input, g); // Y = A + A
        }
    }

    /// <summary>Y = max(X, 0): dX = dY where Y &gt; 0, else 0 (the subgradient 0 at the kink, as the frameworks take it).</summary>
    public static void Relu(GradientContext c, NodeProto node, string dY)
    {
        string x = node.Input[0], y = node.Output[0];
        if (!c.Needs(x)) return;
        var shape = c.Shapes[y];
        string zero = c.Floats([0f]);
        string positive = c.Emit("Greater", [y, zero], shape);
        c.Accumulate(x, c.Emit("Where", [positive, dY, zero], shape));
    }
}

using MLNetClassify.Onnx;
using Onnx;

namespace MLNetClassify.Tuning;

/// <summary>
/// Gradients of Y = Conv(X, W, B) (group 1, dilation 1) in plain ONNX operators.
/// </summary>
/// <remarks>
/// dX is the transposed convolution of dY with the same weights, strides and pads; where the forward stride leaves r
/// rows (columns) at the bottom (right) that no output reaches, output_padding = r restores X's size, and those rows
/// get zero. dW[o, i, a, b] = Σ_n,y,x dY[n, o, y, x] · Xpad[n, i, y·s + a, x·s + b]: a convolution with the batch and
/// channel axes of X and dY swapped (X as Ci images of N channels, dY as Co kernels of N channels), dY's taps spread
/// by dilation s. Its output is [Ci, Co, kh, kw], transposed back to W's layout; the bottom/right pad shrinks by r so
/// that it is exactly kh × kw, and where r exceeds the pad the extra rows are sliced off. dB sums dY over N, H, W.
/// </remarks>
internal static class ConvBackward
{
    public static void Apply(GradientContext c, NodeProto node, string dY)
    {
        string x = node.Input[0], w = node.Input[1];
        var g = ConvGeometry.Of(node, c.Shapes);
        var xShape = c.Shapes[x];
        var wShape = c.Shapes[w];
        if (node.Input.Count > 2 && node.Input[2].Length > 0 && c.Needs(node.Input[2]))
            c.Accumulate(node.Input[2], c.Emit("ReduceSum", [dY, c.Int64s(0, 2, 3)], [wShape[0]], OnnxBuild.Attr("keepdims", 0)));
        if (c.Needs(x))
            c.Accumulate(x, c.Emit("ConvTranspose", [dY, w], xShape,
                OnnxBuild.Ints("kernel_shape", g.KernelH, g.KernelW), OnnxBuild.Ints("strides", g.StrideH, g.StrideW),
                OnnxBuild.Ints("pads", g.Pads), OnnxBuild.Ints("output_padding", g.RemainderH, g.RemainderW),
                OnnxBuild.Ints("dilations", 1, 1), OnnxBuild.Attr("group", 1)));
        if (c.Needs(w))
            c.Accumulate(w, WeightGradient(c, x, dY, g, xShape, wShape));
    }

    private static string WeightGradient(GradientContext c, string x, string dY, ConvGeometry g, long[] xShape, long[] wShape)
    {
        long ci = wShape[1], co = wShape[0];
        long bottom = Math.Max(g.Pads[2] - g.RemainderH, 0), right = Math.Max(g.Pads[3] - g.RemainderW, 0);
        // Output side of the swapped convolution: padded input minus the dilated dY extent, plus one.
        long outH = xShape[2] + g.Pads[0] + bottom - (g.OutH - 1) * g.StrideH;
        long outW = xShape[3] + g.Pads[1] + right - (g.OutW - 1) * g.StrideW;
        string xt = c.Emit("Transpose", [x], [ci, TailShapes.Batch, xShape[2], xShape[3]], OnnxBuild.Ints("perm", 1, 0, 2, 3));
        string dyt = c.Emit("Transpose", [dY], [co, TailShapes.Batch, g.OutH, g.OutW], OnnxBuild.Ints("perm", 1, 0, 2, 3));
        string dwt = c.Emit("Conv", [xt, dyt], [ci, co, outH, outW],
            OnnxBuild.Ints("kernel_shape", g.OutH, g.OutW), OnnxBuild.Ints("strides", 1, 1),
            OnnxBuild.Ints("pads", g.Pads[0], g.Pads[1], bottom, right), OnnxBuild.Ints("dilations", g.StrideH, g.StrideW), OnnxBuild.Attr("group", 1));
        if (outH != g.KernelH || outW != g.KernelW)
            dwt = c.Emit("Slice", [dwt, c.Int64s(0, 0), c.Int64s(g.KernelH, g.KernelW), c.Int64s(2, 3)], [ci, co, g.KernelH, g.KernelW]);
        return c.Emit("Transpose", [dwt], wShape, OnnxBuild.Ints("perm", 1, 0, 2, 3));
    }
}

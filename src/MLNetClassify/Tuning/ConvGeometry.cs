using MLNetClassify.Onnx;
using Onnx;

namespace MLNetClassify.Tuning;

/// <summary>
/// A 2-D convolution's geometry as the backward rules need it: kernel, strides, pads (top, left, bottom, right),
/// and the remainders — rows and columns at the bottom and right that no output position reaches.
/// </summary>
internal sealed record ConvGeometry(long KernelH, long KernelW, long StrideH, long StrideW, long[] Pads, long RemainderH, long RemainderW,
    long OutH, long OutW)
{
    /// <summary>Reads the Conv node's attributes against its input and weight shapes.</summary>
    /// <exception cref="NotSupportedException">Groups, dilations, SAME padding or a non-2-D convolution.</exception>
    public static ConvGeometry Of(NodeProto node, IReadOnlyDictionary<string, long[]> shapes)
    {
        var x = shapes[node.Input[0]];
        var w = shapes[node.Input[1]];
        if (x.Length != 4 || w.Length != 4)
            throw new NotSupportedException($"Conv '{node.Name}' is not 2-D (input rank {x.Length}).");
        long[] Ints(string name, long[] fallback) => node.Attribute.FirstOrDefault(a => a.Name == name) is { } a ? [.. a.Ints] : fallback;
        if (node.Attribute.FirstOrDefault(a => a.Name == "group") is { } g && g.I != 1)
            throw new NotSupportedException($"Conv '{node.Name}' has {g.I} groups; only group 1 is supported.");
        if (Ints("dilations", [1, 1]).Any(d => d != 1))
            throw new NotSupportedException($"Conv '{node.Name}' is dilated; only dilation 1 is supported.");
        var autoPad = node.Attribute.FirstOrDefault(a => a.Name == "auto_pad")?.S.ToStringUtf8() ?? "";
        if (autoPad is not ("" or "NOTSET" or "VALID"))
            throw new NotSupportedException($"Conv '{node.Name}' uses auto_pad {autoPad}; give explicit pads.");
        if (x[1] != w[1])
            throw new NotSupportedException($"Conv '{node.Name}' takes {x[1]} channels but its weights expect {w[1]}.");
        var kernel = Ints("kernel_shape", [w[2], w[3]]);
        var strides = Ints("strides", [1, 1]);
        var pads = autoPad == "VALID" ? [0, 0, 0, 0] : Ints("pads", [0, 0, 0, 0]);
        long spanH = x[2] + pads[0] + pads[2] - kernel[0], spanW = x[3] + pads[1] + pads[3] - kernel[1];
        if (spanH < 0 || spanW < 0)
            throw new NotSupportedException($"Conv '{node.Name}': the kernel is larger than the padded input.");
        return new ConvGeometry(kernel[0], kernel[1], strides[0], strides[1], pads, spanH % strides[0], spanW % strides[1],
            spanH / strides[0] + 1, spanW / strides[1] + 1);
    }

    /// <summary>A Conv node (opset 13) with this geometry, every attribute explicit.</summary>
    public NodeProto ToNode(string name, string[] inputs, string output)
    {
        var node = OnnxBuild.Node("Conv", inputs, [output],
            OnnxBuild.Ints("kernel_shape", KernelH, KernelW), OnnxBuild.Ints("strides", StrideH, StrideW), OnnxBuild.Ints("pads", Pads),
            OnnxBuild.Ints("dilations", 1, 1), OnnxBuild.Attr("group", 1));
        if (name.Length > 0) node.Name = name;
        return node;
    }
}

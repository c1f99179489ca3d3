using Google.Protobuf;
using MLNetClassify.Onnx;
using Onnx;

namespace MLNetClassify.Export;

/// <summary>
/// The exported graph's resize: a photo of any size to the backbone's S×S planes, the way <c>predict</c> prepares it.
/// <list type="number">
/// <item>A photo whose shorter side is at least 2·S is first shrunk by n/8 (n = 1…4, the smallest whose sides, rounded
/// up, still cover S), with ONNX Resize cubic + antialias (opset 18): close to the decoder's DCT-scaled JPEG read, which
/// keeps the low frequencies sharper than a linear (triangle) filter would.</item>
/// <item>Then ML.NET's IsoCrop (MLImage.ResizeWithCrop, centre anchor): the image is drawn with its shorter side at S
/// and the centre S×S kept; drawn with bilinear (half-pixel centres, no antialias: Skia's filter for these scales).</item>
/// <item>Values rounded to whole numbers 0–255, as the 8-bit canvas holds them.</item>
/// </list>
/// </summary>
/// <remarks>
/// Measured against <c>predict</c> on the shared photos (docs/export.md): stretching to S×S instead of cutting the centre
/// is what made the exported model disagree; antialiasing the final resize made it agree less, as Skia's bilinear
/// below a factor of 2 does not antialias.
/// </remarks>
internal static class OnnxExportResize
{
    /// <summary>The ONNX opset the resize needs (Resize's antialias).</summary>
    public const long Opset = 18;

    /// <summary>Words for the exported model's input contract.</summary>
    public const string Description =
        "a shorter side of at least 2·S is first reduced by n/8 (n = 1..4, the smallest covering S, sides rounded up; ONNX Resize cubic, cubic_coeff_a = -0.75, antialias = 1), "
        + "then the image is scaled so its shorter side is S and the centre S×S is kept (ML.NET IsoCrop geometry, float32; ONNX Resize linear, half_pixel, no antialias), "
        + "values rounded to 0–255";

    /// <summary>
    /// Inserts, at the start of <paramref name="graph"/>, the nodes from <paramref name="input"/> (float N×3×H×W,
    /// 0–255) to <paramref name="output"/> (float N×3×S×S); their names start with <paramref name="prefix"/>.
    /// </summary>
    public static void Insert(GraphProto graph, string input, string output, int size, string prefix)
    {
        var nodes = new List<NodeProto>();
        string P = prefix;
        void Node(string op, string[] inputs, string name, params AttributeProto[] attributes) =>
            nodes.Add(OnnxBuild.Node(op, inputs, [name], attributes));
        void Floats(string name, params float[] values) => graph.Initializer.Add(OnnxBuild.Floats($"{P}{name}", values.Length == 1 ? [] : [values.Length], values));
        void Int64s(string name, params long[] values) => graph.Initializer.Add(OnnxBuild.Int64s($"{P}{name}", [values.Length], values));
        Int64s("i0", 0); Int64s("i1", 1); Int64s("i2", 2); Int64s("i4", 4); Int64s("three", 3);
        Int64s("ss", size, size); Int64s("axes", 2, 3); Int64s("zeros", 0, 0, 0, 0, 0, 0);
        Floats("s", size); Floats("one", 1); Floats("two", 2); Floats("eight", 8); Floats("lo", 0); Floats("hi", 255);
        Floats("n_top", 8f * (size - 1)); Floats("large_from", 2f * size);
        graph.Initializer.Add(OnnxBuild.Floats($"{P}roi", [0], []));
        graph.Initializer.Add(OnnxBuild.Floats($"{P}scales", [0], []));

        Node("Shape", [input], $"{P}shape");
        Node("Slice", [$"{P}shape", $"{P}i0", $"{P}i1"], $"{P}n");
        Node("Slice", [$"{P}shape", $"{P}i2", $"{P}i4"], $"{P}hw");
        Node("Cast", [$"{P}hw"], $"{P}hwf", To(TensorProto.Types.DataType.Float));

        // 1. The DCT scale (ImageDecoder.ScaledSize): for a shorter side L ≥ 2S, the smallest n with ceil(L·n/8) ≥ S,
        //    n = floor(8(S−1)/L) + 1; each side becomes ceil(side·n/8), libjpeg's rounding. Smaller photos keep their size.
        Node("ReduceMin", [$"{P}hwf"], $"{P}short", OnnxBuild.Attr("keepdims", 1));
        Node("Div", [$"{P}n_top", $"{P}short"], $"{P}n_a");
        Node("Floor", [$"{P}n_a"], $"{P}n_b");
        Node("Add", [$"{P}n_b", $"{P}one"], $"{P}eighths");
        Node("Mul", [$"{P}hwf", $"{P}eighths"], $"{P}pre_a");
        Node("Div", [$"{P}pre_a", $"{P}eight"], $"{P}pre_b");
        Node("Ceil", [$"{P}pre_b"], $"{P}pre_c");
        Node("GreaterOrEqual", [$"{P}short", $"{P}large_from"], $"{P}large");
        Node("Where", [$"{P}large", $"{P}pre_c", $"{P}hwf"], $"{P}pre_hwf");
        Node("Cast", [$"{P}pre_hwf"], $"{P}pre_hw", To(TensorProto.Types.DataType.Int64));
        Node("Concat", [$"{P}n", $"{P}three", $"{P}pre_hw"], $"{P}pre_sizes", OnnxBuild.Attr("axis", 0));
        Node("Resize", [input, $"{P}roi", $"{P}scales", $"{P}pre_sizes"], $"{P}pre", Text("mode", "cubic"), OnnxBuild.Attr("antialias", 1));

        // 2. IsoCrop in MLImage's float32 arithmetic: aspect = max(S/W, S/H); the image is drawn (int)(side·aspect)
        //    long at offset (int)((S − side·aspect)/2), both truncated towards zero (Cast to int64 truncates).
        Node("Div", [$"{P}s", $"{P}pre_hwf"], $"{P}aspects");
        Node("Gather", [$"{P}aspects", $"{P}i0"], $"{P}aspect_h", OnnxBuild.Attr("axis", 0));
        Node("Gather", [$"{P}aspects", $"{P}i1"], $"{P}aspect_w", OnnxBuild.Attr("axis", 0));
        Node("Max", [$"{P}aspect_h", $"{P}aspect_w"], $"{P}aspect");
        Node("Mul", [$"{P}pre_hwf", $"{P}aspect"], $"{P}drawn_f");
        Node("Cast", [$"{P}drawn_f"], $"{P}drawn", To(TensorProto.Types.DataType.Int64));
        Node("Sub", [$"{P}s", $"{P}drawn_f"], $"{P}spare");
        Node("Div", [$"{P}spare", $"{P}two"], $"{P}offset_f");
        Node("Cast", [$"{P}offset_f"], $"{P}offset", To(TensorProto.Types.DataType.Int64));
        Node("Neg", [$"{P}offset"], $"{P}starts");
        Node("Add", [$"{P}starts", $"{P}ss"], $"{P}ends");
        Node("Concat", [$"{P}n", $"{P}three", $"{P}drawn"], $"{P}sizes", OnnxBuild.Attr("axis", 0));
        Node("Resize", [$"{P}pre", $"{P}roi", $"{P}scales", $"{P}sizes"], $"{P}drawn_image", Text("mode", "linear"));
        Node("Slice", [$"{P}drawn_image", $"{P}starts", $"{P}ends", $"{P}axes"], $"{P}cut");
        // float32 can draw a side S − 1 long (223.99998 truncated): the canvas's last row or column then stays black.
        Node("Shape", [$"{P}cut"], $"{P}cut_shape");
        Node("Slice", [$"{P}cut_shape", $"{P}i2", $"{P}i4"], $"{P}cut_hw");
        Node("Sub", [$"{P}ss", $"{P}cut_hw"], $"{P}missing");
        Node("Concat", [$"{P}zeros", $"{P}missing"], $"{P}pads", OnnxBuild.Attr("axis", 0));
        Node("Pad", [$"{P}cut", $"{P}pads"], $"{P}canvas");

        // 3. The 8-bit canvas.
        Node("Round", [$"{P}canvas"], $"{P}rounded");
        Node("Clip", [$"{P}rounded", $"{P}lo", $"{P}hi"], output);
        for (int i = nodes.Count - 1; i >= 0; i--) graph.Node.Insert(0, nodes[i]);
    }

    private static AttributeProto To(TensorProto.Types.DataType type) => OnnxBuild.Attr("to", (long)type);

    private static AttributeProto Text(string name, string value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.String, S = ByteString.CopyFromUtf8(value) };
}

using MLNetClassify.Backbones;
using MLNetClassify.Onnx;

namespace MLNetClassify.Tests.Backbones;

/// <summary>
/// Vision-transformer-shaped image encoders with random weights, built in the test: a patch-embedding convolution
/// (8×8 patches of a 32×32 image: a 4×4 grid of 16 tokens of 16 channels), leading tokens (a class token, registers)
/// expanded to the batch, a position embedding, pre-norm attention blocks (LayerNormalization, two-head softmax
/// attention, a residual Add; then a GELU-like MLP and a residual Add), a final LayerNormalization ("encoder_out", the
/// token sequence the featurizer should cut at), then each variant's head.
/// </summary>
internal sealed partial class FamilyGraphs
{
    private const int Patch = 8, Grid = 4, Width = 16, Heads = 2, Hidden = 32;

    /// <summary>A class token, a classifier reading it (Gather of token 0, Gemm, Softmax): torchvision's and timm's ViT.</summary>
    public static Family VitClassToken(string dir) => Save(dir, "vit-class-token", 11, f =>
    {
        var tokens = f.Encoder(prefix: 1, depth: 2);
        var first = f.Node("Gather", [tokens, f.Int64s("cls_index", [], [0])], OnnxBuild.Attr("axis", 1));
        f.Softmax(f.Gemm(first, Width, 5));
        return ("encoder_out", [Width, Grid, Grid], TensorLayout.Nchw);
    }, opset: 17);

    /// <summary>No leading token; the classifier reads the mean of the tokens (ReduceMean over axis 1).</summary>
    public static Family VitMeanTokens(string dir) => Save(dir, "vit-mean-tokens", 12, f =>
    {
        var tokens = f.Encoder(prefix: 0, depth: 1);
        var mean = f.Node("ReduceMean", [tokens], OnnxBuild.Ints("axes", 1), OnnxBuild.Attr("keepdims", 0));
        f.Softmax(f.Gemm(mean, Width, 3));
        return ("encoder_out", [Width, Grid, Grid], TensorLayout.Nchw);
    }, opset: 17);

    /// <summary>
    /// An encoder exported without a classifier, Hugging Face style: two outputs, the sequence ("encoder_out", a class
    /// token and four registers before the grid) and a pooled vector (class token, dense, tanh).
    /// </summary>
    public static Family VitEncoderWithRegisters(string dir) => Save(dir, "vit-encoder-registers", 13, f =>
    {
        var tokens = f.Encoder(prefix: 5, depth: 1);
        f._g.Output.Add(OnnxBuild.Tensor(tokens, global::Onnx.TensorProto.Types.DataType.Float, "batch", 5 + Grid * Grid, Width));
        var first = f.Node("Gather", [tokens, f.Int64s("cls_index", [], [0])], OnnxBuild.Attr("axis", 1));
        f.Node("Tanh", [f.Gemm(first, Width, Width)], "pooler_output");
        return ("encoder_out", [Width, Grid, Grid], TensorLayout.Nchw);
    }, opset: 17);

    /// <summary>Leading tokens, patch tokens and position embedding, blocks, final norm; returns "encoder_out" (N×T×C).</summary>
    private string Encoder(int prefix, int depth)
    {
        var image = Input();
        var patches = Node("Conv", [image, Weights([Width, 3, Patch, Patch]), Weights([Width])],
            OnnxBuild.Ints("kernel_shape", Patch, Patch), OnnxBuild.Ints("strides", Patch, Patch));                  // N×C×4×4
        var flat = Node("Reshape", [patches, Int64s("flat_shape", [3], [0, Width, Grid * Grid])]);                  // N×C×16
        var x = Node("Transpose", [flat], OnnxBuild.Ints("perm", 0, 2, 1));                                          // N×16×C, row-major grid
        if (prefix > 0)
        {
            // The leading tokens are parameters [1, prefix, C] expanded to the batch: Shape → batch → [N, prefix, C].
            var batch = Node("Slice", [Node("Shape", [x]), Int64s("b_start", [1], [0]), Int64s("b_end", [1], [1])]);
            var shape = Node("Concat", [batch, Int64s("lead_dims", [2], [prefix, Width])], OnnxBuild.Attr("axis", 0));
            var leading = Node("Expand", [Weights([1, prefix, Width]), shape]);
            x = Node("Concat", [leading, x], OnnxBuild.Attr("axis", 1));
        }
        x = Node("Add", [x, Weights([1, prefix + Grid * Grid, Width])]);                                               // position embedding
        for (int b = 0; b < depth; b++)
        {
            x = Node("Add", [x, Attention(LayerNorm(x))]);
            x = Node("Add", [x, Mlp(LayerNorm(x))]);
        }
        return LayerNorm(x, "encoder_out");
    }

    private string Attention(string x)
    {
        int d = Width / Heads;
        string Heads4(string t) => Node("Transpose", [Node("Reshape", [t, Int64s(Name("heads"), [4], [0, 0, Heads, d])])], OnnxBuild.Ints("perm", 0, 2, 1, 3));
        var q = Heads4(Dense(x, Width, Width));
        var k = Heads4(Dense(x, Width, Width));
        var v = Heads4(Dense(x, Width, Width));                                                                      // N×h×T×d
        var scores = Node("Mul", [Node("MatMul", [q, Node("Transpose", [k], OnnxBuild.Ints("perm", 0, 1, 3, 2))]), Scalar(1f / MathF.Sqrt(d))]);
        var mixed = Node("MatMul", [Node("Softmax", [scores], OnnxBuild.Attr("axis", -1)), v]);
        var joined = Node("Reshape", [Node("Transpose", [mixed], OnnxBuild.Ints("perm", 0, 2, 1, 3)), Int64s(Name("join"), [3], [0, 0, Width])]);
        return Dense(joined, Width, Width);
    }

    /// <summary>Dense, x·σ(1.702x) (GELU's sigmoid approximation), dense.</summary>
    private string Mlp(string x)
    {
        var h = Dense(x, Width, Hidden);
        return Dense(Node("Mul", [h, Node("Sigmoid", [Node("Mul", [h, Scalar(1.702f)])])]), Hidden, Width);
    }

    private string Dense(string x, int inputs, int outputs) => Node("Add", [Node("MatMul", [x, Weights([inputs, outputs])]), Weights([outputs])]);

    private string LayerNorm(string x, string? output = null)
    {
        var scale = Name("ln_scale");
        _g.Initializer.Add(OnnxBuild.Floats(scale, [Width], Enumerable.Repeat(1f, Width).ToArray()));
        var bias = Name("ln_bias");
        _g.Initializer.Add(OnnxBuild.Floats(bias, [Width], new float[Width]));
        var eps = OnnxBuild.Attr("axis", -1);
        return output is null ? Node("LayerNormalization", [x, scale, bias], eps) : Node("LayerNormalization", [x, scale, bias], output, eps);
    }

    private string Scalar(float value)
    {
        var name = Name("scalar");
        _g.Initializer.Add(OnnxBuild.Floats(name, [], [value]));
        return name;
    }

    private string Int64s(string name, long[] dims, long[] values)
    {
        _g.Initializer.Add(OnnxBuild.Int64s(name, dims, values));
        return name;
    }
}

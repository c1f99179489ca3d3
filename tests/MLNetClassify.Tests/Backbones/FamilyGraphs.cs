using Google.Protobuf;
using MLNetClassify.Backbones;
using MLNetClassify.Onnx;
using Onnx;
using DataType = Onnx.TensorProto.Types.DataType;

namespace MLNetClassify.Tests.Backbones;

/// <summary>
/// Small image classifiers with each family's structure and random weights, built in the test so nothing is
/// downloaded: residual blocks, an Inception module, a VGG-like stack, a Keras-style NHWC graph, a Flatten+Gemm tail.
/// </summary>
internal sealed partial class FamilyGraphs
{
    private readonly GraphProto _g = new() { Name = "test" };
    private readonly Random _rng;
    private int _counter;

    private FamilyGraphs(int seed) => _rng = new Random(seed);

    /// <summary>The file, the node the feature map should be found at, its [C,H,W] at 32×32, and its layout.</summary>
    public sealed record Family(string Path, string FeatureNode, int[] Shape, TensorLayout MapLayout);

    public static Family Residual(string dir) => Save(dir, "resnet-like", 1, f =>
    {
        var stem = f.Relu(f.Conv(f.Input(), 3, 8, 3));
        var branch = f.Conv(f.Relu(f.Conv(stem, 8, 8, 3)), 8, 8, 3);
        var block = f.Relu(f.Node("Add", [stem, branch]), "block_out"); // y = F(x) + x
        var block2 = f.Relu(f.Node("Add", [block, f.Conv(f.Relu(f.Conv(block, 8, 8, 3)), 8, 8, 3)]), "block2_out");
        f.Softmax(f.Gemm(f.Node("Flatten", [f.Node("GlobalAveragePool", [block2])], OnnxBuild.Attr("axis", 1)), 8, 4));
        return ("block2_out", [8, 32, 32], TensorLayout.Nchw);
    });

    public static Family Inception(string dir) => Save(dir, "inception-module", 2, f =>
    {
        var stem = f.Relu(f.Conv(f.Input(), 3, 8, 3, stride: 2));
        var b1 = f.Relu(f.Conv(stem, 8, 4, 1));                                 // 1×1
        var b3 = f.Relu(f.Conv(f.Relu(f.Conv(stem, 8, 4, 1)), 4, 6, 3));          // 1×1 reduction, then 3×3
        var b5 = f.Relu(f.Conv(f.Relu(f.Conv(stem, 8, 2, 1)), 2, 4, 5));          // 1×1 reduction, then 5×5
        var pool = f.Node("MaxPool", [stem], OnnxBuild.Ints("kernel_shape", 3, 3), OnnxBuild.Ints("pads", 1, 1, 1, 1), OnnxBuild.Ints("strides", 1, 1));
        var bp = f.Relu(f.Conv(pool, 8, 2, 1));                                  // pooling branch, 1×1 projection
        var mixed = f.Node("Concat", [b1, b3, b5, bp], "mixed", OnnxBuild.Attr("axis", 1));
        f.Softmax(f.Gemm(f.Node("Flatten", [f.Node("GlobalAveragePool", [mixed])], OnnxBuild.Attr("axis", 1)), 16, 5));
        return ("mixed", [16, 16, 16], TensorLayout.Nchw);
    });

    public static Family Vgg(string dir) => Save(dir, "vgg-like", 3, f =>
    {
        var x = f.Relu(f.Conv(f.Relu(f.Conv(f.Input(), 3, 8, 3)), 8, 8, 3));
        x = f.Node("MaxPool", [x], OnnxBuild.Ints("kernel_shape", 2, 2), OnnxBuild.Ints("strides", 2, 2));
        x = f.Relu(f.Conv(f.Relu(f.Conv(x, 8, 16, 3)), 16, 16, 3));
        var pool = f.Node("MaxPool", [x], "pool2", OnnxBuild.Ints("kernel_shape", 2, 2), OnnxBuild.Ints("strides", 2, 2));
        var hidden = f.Relu(f.Gemm(f.Node("Flatten", [pool], OnnxBuild.Attr("axis", 1)), 16 * 8 * 8, 32));
        f.Softmax(f.Gemm(hidden, 32, 4));
        return ("pool2", [16, 8, 8], TensorLayout.Nchw);
    });

    public static Family KerasNhwc(string dir) => Save(dir, "keras-like", 4, f =>
    {
        var nchw = f.Node("Transpose", [f.Input(TensorLayout.Nhwc)], OnnxBuild.Ints("perm", 0, 3, 1, 2));
        var x = f.Relu(f.Conv(f.Relu(f.Conv(nchw, 3, 8, 3)), 8, 8, 3));
        var nhwc = f.Node("Transpose", [x], "conv_out_nhwc", OnnxBuild.Ints("perm", 0, 2, 3, 1));
        var pooled = f.Node("ReduceMean", [nhwc], OnnxBuild.Ints("axes", 1, 2), OnnxBuild.Attr("keepdims", 0));
        var dense = f.Node("Add", [f.Node("MatMul", [pooled, f.Weights([8, 4])]), f.Weights([4])]); // Dense
        f.Softmax(dense);
        return ("conv_out_nhwc", [8, 32, 32], TensorLayout.Nhwc);
    });

    public static Family FlattenGemm(string dir) => Save(dir, "flatten-gemm", 5, f =>
    {
        var x = f.Relu(f.Conv(f.Relu(f.Conv(f.Input(), 3, 4, 3, stride: 2)), 4, 6, 3, stride: 2), "features");
        f.Gemm(f.Node("Flatten", [x], OnnxBuild.Attr("axis", 1)), 6 * 8 * 8, 3);
        return ("features", [6, 8, 8], TensorLayout.Nchw);
    });

    /// <summary>Two pooled branches concatenated before the classifier: no single feature map to cut at.</summary>
    public static Family TwoPooledBranches(string dir) => Save(dir, "two-branches", 6, f =>
    {
        var input = f.Input();
        var a = f.Node("Flatten", [f.Node("GlobalAveragePool", [f.Relu(f.Conv(input, 3, 4, 3), "branch_a")])], OnnxBuild.Attr("axis", 1));
        var b = f.Node("Flatten", [f.Node("GlobalAveragePool", [f.Relu(f.Conv(input, 3, 4, 5), "branch_b")])], OnnxBuild.Attr("axis", 1));
        f.Softmax(f.Gemm(f.Node("Concat", [a, b], OnnxBuild.Attr("axis", 1)), 8, 3));
        return ("", [], TensorLayout.Nchw);
    });

    /// <summary>
    /// A classifier with a catalogue preset's input name, input size, channel count and feature-map side: max pooling
    /// down to the side, a 1×1 convolution to the channels, ReLU ("features"), global average pool, Gemm, softmax.
    /// </summary>
    public static Family PresetShaped(string dir, BackboneSpec preset)
    {
        int size = preset.InputSize, side = preset.FeatureMapSide ?? 7, channels = preset.Channels;
        int stride = size / side, kernel = size - (side - 1) * stride; // (size − kernel) / stride + 1 = side
        return Save(dir, "preset-" + preset.Name.Replace('/', '-'), 5, f =>
        {
            string input = preset.InputNode ?? "image";
            f._g.Input.Add(OnnxBuild.Tensor(input, DataType.Float, "batch", 3, size, size));
            var pooled = f.Node("MaxPool", [input], OnnxBuild.Ints("kernel_shape", kernel, kernel), OnnxBuild.Ints("strides", stride, stride));
            var map = f.Relu(f.Node("Conv", [pooled, f.Weights([channels, 3, 1, 1]), f.Weights([channels])], OnnxBuild.Ints("kernel_shape", 1, 1)), "features");
            f.Softmax(f.Gemm(f.Node("Flatten", [f.Node("GlobalAveragePool", [map])], OnnxBuild.Attr("axis", 1)), channels, 10));
            return ("features", [channels, side, side], TensorLayout.Nchw);
        });
    }

    private static Family Save(string dir, string name, int seed, Func<FamilyGraphs, (string, int[], TensorLayout)> build, long opset = 13)
    {
        var f = new FamilyGraphs(seed);
        var (node, shape, layout) = build(f);
        f._g.Output.Add(new ValueInfoProto
        {
            Name = f._g.Node[^1].Output[0],
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)DataType.Float } },
        });
        var model = new ModelProto { IrVersion = 7, ProducerName = "MLNetClassify.Tests", Graph = f._g };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = opset });
        var path = System.IO.Path.Combine(dir, name + ".onnx");
        File.WriteAllBytes(path, model.ToByteArray());
        return new Family(path, node, shape, layout);
    }

    private string Input(TensorLayout layout = TensorLayout.Nchw)
    {
        _g.Input.Add(layout == TensorLayout.Nchw
            ? OnnxBuild.Tensor("image", DataType.Float, "batch", 3, 32, 32)
            : OnnxBuild.Tensor("image", DataType.Float, "batch", 32, 32, 3));
        return "image";
    }

    private string Name(string op) => $"{op.ToLowerInvariant()}_{_counter++}";

    private string Node(string op, string[] inputs, params AttributeProto[] attributes) => Node(op, inputs, Name(op), attributes);

    private string Node(string op, string[] inputs, string output, params AttributeProto[] attributes)
    {
        var node = OnnxBuild.Node(op, inputs, [output], attributes);
        node.Name = output;
        _g.Node.Add(node);
        return output;
    }

    private string Weights(long[] dims)
    {
        var name = Name("w");
        int count = (int)dims.Aggregate(1L, (a, d) => a * d);
        float scale = MathF.Sqrt(2f / Math.Max(1, count / dims[0]));
        _g.Initializer.Add(OnnxBuild.Floats(name, dims, Enumerable.Range(0, count).Select(_ => scale * (float)(_rng.NextDouble() * 2 - 1)).ToArray()));
        return name;
    }

    private string Conv(string x, int cin, int cout, int k, int stride = 1) =>
        Node("Conv", [x, Weights([cout, cin, k, k]), Weights([cout])],
            OnnxBuild.Ints("kernel_shape", k, k), OnnxBuild.Ints("pads", k / 2, k / 2, k / 2, k / 2), OnnxBuild.Ints("strides", stride, stride));

    private string Relu(string x, string? output = null) => output is null ? Node("Relu", [x]) : Node("Relu", [x], output);

    private string Gemm(string x, int inputs, int outputs) => Node("Gemm", [x, Weights([outputs, inputs]), Weights([outputs])], OnnxBuild.Attr("transB", 1));

    private string Softmax(string x) => Node("Softmax", [x], "probabilities", OnnxBuild.Attr("axis", 1));
}

using Google.Protobuf;
using MLNetClassify.Onnx;
using Onnx;

namespace MLNetClassify.Tuning;

/// <summary>
/// A forward "tail" ready for training: one float input [N, C, H, W], one output of logits [N, K], its nodes in
/// topological order, its trainable parameters (float weights and biases of Conv, Gemm, MatMul and Add) and its
/// constants (every other initializer), and the static shape of every tensor with the batch as −1.
/// </summary>
/// <remarks>
/// BatchNormalization must be folded first (<see cref="BatchNormFolding.Fold"/>): the step graph trains the folded
/// convolutions, the way a fine-tune that keeps BN statistics frozen does.
/// </remarks>
internal sealed class TailGraph
{
    /// <summary>Operators the backward rules cover.</summary>
    public static readonly IReadOnlySet<string> Supported = new HashSet<string>
        { "Conv", "Relu", "Add", "GlobalAveragePool", "ReduceMean", "Flatten", "Reshape", "Gemm", "MatMul" };

    private TailGraph(string input, string output, List<NodeProto> nodes, List<TensorProto> parameters, List<TensorProto> constants,
        Dictionary<string, long[]> shapes)
    {
        InputName = input;
        OutputName = output;
        Nodes = nodes;
        Parameters = parameters;
        Constants = constants;
        Shapes = shapes;
    }

    public string InputName { get; }
    public string OutputName { get; }
    public IReadOnlyList<NodeProto> Nodes { get; }

    /// <summary>Trainable tensors, in the order the nodes first use them.</summary>
    public IReadOnlyList<TensorProto> Parameters { get; }

    public IReadOnlyList<TensorProto> Constants { get; }

    /// <summary>Every tensor's shape; −1 stands for the batch.</summary>
    public IReadOnlyDictionary<string, long[]> Shapes { get; }

    /// <summary>Number of classes: the logits' width.</summary>
    public int Classes => (int)Shapes[OutputName][1];

    /// <summary>
    /// Reads a tail from <paramref name="model"/>: its one non-initializer input (shaped [N, C, H, W] with
    /// <paramref name="inputShape"/> = [C, H, W]) and its one output.
    /// </summary>
    /// <exception cref="NotSupportedException">A node's operator or attributes have no backward rule here; the message names the node.</exception>
    public static TailGraph FromModel(ModelProto model, int[] inputShape)
    {
        ArgumentNullException.ThrowIfNull(model);
        var g = model.Graph;
        var initializers = g.Initializer.ToDictionary(t => t.Name);
        var inputs = g.Input.Where(i => !initializers.ContainsKey(i.Name)).ToList();
        if (inputs.Count != 1 || g.Output.Count != 1)
            throw new ArgumentException($"A tail has one input and one output; this graph has {inputs.Count} inputs and {g.Output.Count} outputs.", nameof(model));
        if (inputShape.Length != 3 || inputShape.Any(d => d <= 0))
            throw new ArgumentException("The input shape is [C, H, W], all positive.", nameof(inputShape));
        var nodes = TopologicalOrder(g, inputs[0].Name);
        foreach (var node in nodes)
        {
            if (node.OpType == "BatchNormalization")
                throw new NotSupportedException($"Node '{node.Name}' is a BatchNormalization: fold it into its convolution first (BatchNormFolding.Fold).");
            if (!Supported.Contains(node.OpType))
                throw new NotSupportedException($"Node '{node.Name}' ({node.OpType}) has no backward rule; supported: {string.Join(", ", Supported)}.");
        }
        var trainable = new HashSet<string>();
        foreach (var node in nodes)
            foreach (var (name, index) in node.Input.Select((n, i) => (n, i)))
                if (initializers.TryGetValue(name, out var t) && t.DataType == (int)TensorProto.Types.DataType.Float && IsTrainableSlot(node.OpType, index))
                    trainable.Add(name);
        var used = nodes.SelectMany(n => n.Input).Distinct().Where(initializers.ContainsKey).ToList();
        var parameters = used.Where(trainable.Contains).Select(n => initializers[n]).ToList();
        var constants = used.Where(n => !trainable.Contains(n)).Select(n => initializers[n]).ToList();
        var shapes = TailShapes.Infer(nodes, inputs[0].Name, inputShape, initializers);
        var output = g.Output[0].Name;
        if (shapes[output].Length != 2)
            throw new NotSupportedException($"The tail's output '{output}' is [{string.Join(", ", shapes[output])}], not logits [N, K].");
        return new TailGraph(inputs[0].Name, output, nodes, parameters, constants, shapes);
    }

    private static bool IsTrainableSlot(string op, int index) => op switch
    {
        "Conv" or "Gemm" => index >= 1,
        "MatMul" => index == 1,
        "Add" => true,
        _ => false,
    };

    private static List<NodeProto> TopologicalOrder(GraphProto g, string input)
    {
        var view = new GraphView(g);
        var order = new List<NodeProto>();
        var done = new HashSet<NodeProto>();
        void Visit(NodeProto node)
        {
            if (!done.Add(node)) return;
            foreach (var i in node.Input)
                if (view.Producers.TryGetValue(i, out var p)) Visit(p);
            order.Add(node);
        }
        foreach (var node in view.Upstream(g.Output[0].Name).OrderBy(n => g.Node.IndexOf(n)))
            Visit(node);
        if (!order.SelectMany(n => n.Input).Contains(input))
            throw new ArgumentException($"The graph's output does not depend on its input '{input}'.");
        return order;
    }

    /// <summary>
    /// The part of <paramref name="model"/> from tensor <paramref name="from"/> (made the input) to tensor
    /// <paramref name="to"/> (made the output), with the initializers it uses, at the model's own opset.
    /// </summary>
    /// <exception cref="ArgumentException">A tensor is not produced in the graph, or the part needs another graph input.</exception>
    public static ModelProto Cut(ModelProto model, string from, string to)
    {
        var view = new GraphView(model.Graph);
        if (!view.Producers.ContainsKey(from) || !view.Producers.ContainsKey(to))
            throw new ArgumentException($"The graph produces no tensor '{(view.Producers.ContainsKey(from) ? to : from)}'.");
        var before = view.Upstream(from).ToHashSet();
        var nodes = model.Graph.Node.Where(view.Upstream(to).ToHashSet().Contains).Where(n => !before.Contains(n)).ToList();
        var graph = new GraphProto { Name = $"mlnc_tail_{from}_{to}" };
        graph.Input.Add(OnnxBuild.Tensor(from, TensorProto.Types.DataType.Float, "N", "C", "H", "W"));
        graph.Node.AddRange(nodes.Select(n => n.Clone()));
        var usedNames = nodes.SelectMany(n => n.Input).ToHashSet();
        graph.Initializer.AddRange(model.Graph.Initializer.Where(t => usedNames.Contains(t.Name)).Select(t => t.Clone()));
        var known = graph.Initializer.Select(t => t.Name).Concat(nodes.SelectMany(n => n.Output)).Append(from).ToHashSet();
        if (usedNames.FirstOrDefault(n => n.Length > 0 && !known.Contains(n)) is { } missing)
            throw new ArgumentException($"The part from '{from}' to '{to}' also needs '{missing}', which comes from outside it.");
        graph.Output.Add(OnnxBuild.Tensor(to, TensorProto.Types.DataType.Float, "N", "C", "H", "W"));
        var cut = new ModelProto { IrVersion = model.IrVersion, ProducerName = "MLNetClassify", Graph = graph };
        cut.OpsetImport.AddRange(model.OpsetImport);
        return cut;
    }

    /// <summary>
    /// <paramref name="model"/> (a feature map [N, C, H, W] out) followed by global average pooling, Flatten and a
    /// Gemm head [K, C] + [K] (transB = 1) with the given weights; the output is named "logits".
    /// </summary>
    public static ModelProto WithHead(ModelProto model, int channels, float[] weights, float[] bias)
    {
        int classes = bias.Length;
        if (weights.Length != classes * channels)
            throw new ArgumentException($"A head over {channels} channels and {classes} classes has {classes * channels} weights, not {weights.Length}.", nameof(weights));
        var copy = model.Clone();
        var g = copy.Graph;
        string map = g.Output[0].Name;
        g.Output.Clear();
        g.Node.Add(OnnxBuild.Node("GlobalAveragePool", [map], ["mlnc_head_gap"]));
        g.Node.Add(OnnxBuild.Node("Flatten", ["mlnc_head_gap"], ["mlnc_head_flat"], OnnxBuild.Attr("axis", 1)));
        g.Initializer.Add(OnnxBuild.Floats("mlnc_head_w", [classes, channels], weights));
        g.Initializer.Add(OnnxBuild.Floats("mlnc_head_b", [classes], bias));
        g.Node.Add(OnnxBuild.Node("Gemm", ["mlnc_head_flat", "mlnc_head_w", "mlnc_head_b"], ["logits"], OnnxBuild.Attr("transB", 1)));
        g.Output.Add(OnnxBuild.Tensor("logits", TensorProto.Types.DataType.Float, "N", classes));
        return copy;
    }

    /// <summary>The forward-only graph (opset 13) with <paramref name="values"/> (by parameter name; the tail's own where absent) as initializers.</summary>
    public byte[] InferenceModel(IReadOnlyDictionary<string, float[]>? values = null)
    {
        var graph = new GraphProto { Name = "mlnc_tail" };
        graph.Input.Add(OnnxBuild.Tensor(InputName, TensorProto.Types.DataType.Float, "N", Shapes[InputName][1], Shapes[InputName][2], Shapes[InputName][3]));
        foreach (var p in Parameters)
            graph.Initializer.Add(values is not null && values.TryGetValue(p.Name, out var v) ? OnnxBuild.Floats(p.Name, [.. p.Dims], v) : p.Clone());
        graph.Initializer.AddRange(Constants.Select(c => c.Clone()));
        graph.Node.AddRange(Nodes.Select(Canonical));
        graph.Output.Add(OnnxBuild.Tensor(OutputName, TensorProto.Types.DataType.Float, "N", Classes));
        return Serialize(graph);
    }

    /// <summary>The node as opset 13 reads it: a Conv's geometry spelled out (no auto_pad), everything else as it is.</summary>
    internal NodeProto Canonical(NodeProto node)
    {
        switch (node.OpType)
        {
            case "Conv":
                return ConvGeometry.Of(node, Shapes).ToNode(node.Name, [.. node.Input], node.Output[0]);
            case "ReduceMean":
                // Opset 18 moved the axes to an input; opset 13 reads them as an attribute.
                var axes = TailShapes.ReduceAxes(node, Shapes[node.Input[0]].Length, Constants.ToDictionary(c => c.Name));
                var reduce = OnnxBuild.Node("ReduceMean", [node.Input[0]], [node.Output[0]], OnnxBuild.Ints("axes", axes),
                    OnnxBuild.Attr("keepdims", TailShapes.KeepDims(node) ? 1 : 0));
                reduce.Name = node.Name.Length > 0 ? node.Name : reduce.Name;
                return reduce;
            default:
                return node.Clone();
        }
    }

    /// <summary>An IR 7, opset 13 model around <paramref name="graph"/>.</summary>
    internal static byte[] Serialize(GraphProto graph)
    {
        var model = new ModelProto { IrVersion = 7, ProducerName = "MLNetClassify", Graph = graph };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 13 });
        return model.ToByteArray();
    }
}

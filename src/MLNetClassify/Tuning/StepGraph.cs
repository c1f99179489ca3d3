using MLNetClassify.Onnx;
using Onnx;

namespace MLNetClassify.Tuning;

/// <summary>
/// One ONNX graph for a training step of a <see cref="TailGraph"/>: inputs are the batch x [N, C, H, W], the target
/// rows [N, K] (<see cref="TargetsName"/>) and every parameter, by its own name; outputs are the mean loss
/// (<see cref="LossName"/>, a scalar), the logits (the tail's output name) and the loss's gradient with respect to each
/// parameter (<see cref="GradientName"/>). Runs in an ordinary InferenceSession.
/// </summary>
internal sealed class StepGraph
{
    public const string TargetsName = "mlnc_targets";
    public const string LossName = "mlnc_loss";

    private StepGraph(TailGraph tail, byte[] model, float labelSmoothing)
    {
        Tail = tail;
        Model = model;
        LabelSmoothing = labelSmoothing;
    }

    public TailGraph Tail { get; }
    public byte[] Model { get; }
    public float LabelSmoothing { get; }

    /// <summary>The output holding the gradient of the loss with respect to <paramref name="parameter"/>.</summary>
    public static string GradientName(string parameter) => $"mlnc_grad_{parameter}";

    /// <summary>Builds the step graph; with <paramref name="withGradients"/> false, the forward pass and loss only (same inputs).</summary>
    /// <exception cref="ArgumentOutOfRangeException">The smoothing is outside [0, 1).</exception>
    /// <exception cref="ArgumentException">The tail has no parameter the loss depends on.</exception>
    public static StepGraph Build(TailGraph tail, float labelSmoothing = 0f, bool withGradients = true)
    {
        ArgumentNullException.ThrowIfNull(tail);
        if (labelSmoothing is < 0 or >= 1 || float.IsNaN(labelSmoothing))
            throw new ArgumentOutOfRangeException(nameof(labelSmoothing), labelSmoothing, "Label smoothing must be in [0, 1).");
        var x = tail.Shapes[tail.InputName];
        var graph = new GraphProto { Name = withGradients ? "mlnc_tail_step" : "mlnc_tail_loss" };
        graph.Input.Add(OnnxBuild.Tensor(tail.InputName, TensorProto.Types.DataType.Float, "N", x[1], x[2], x[3]));
        graph.Input.Add(OnnxBuild.Tensor(TargetsName, TensorProto.Types.DataType.Float, "N", tail.Classes));
        foreach (var p in tail.Parameters)
            graph.Input.Add(OnnxBuild.Tensor(p.Name, TensorProto.Types.DataType.Float, [.. p.Dims.Cast<object>()]));
        graph.Initializer.AddRange(tail.Constants.Select(t => t.Clone()));
        graph.Node.AddRange(tail.Nodes.Select(tail.Canonical));

        var shapes = tail.Shapes.ToDictionary(p => p.Key, p => p.Value);
        shapes[TargetsName] = [TailShapes.Batch, tail.Classes];
        var needs = tail.Parameters.Select(p => p.Name).ToHashSet();
        foreach (var node in tail.Nodes)
            if (node.Input.Any(needs.Contains))
                needs.Add(node.Output[0]);
        if (!needs.Contains(tail.OutputName))
            throw new ArgumentException("The tail's logits depend on no trainable parameter.", nameof(tail));
        var c = new GradientContext(graph, shapes, needs);
        var dLogits = SoftmaxCrossEntropy.Append(c, tail.OutputName, TargetsName, labelSmoothing, LossName, withGradients);
        graph.Output.Add(OnnxBuild.Tensor(LossName, TensorProto.Types.DataType.Float));
        graph.Output.Add(OnnxBuild.Tensor(tail.OutputName, TensorProto.Types.DataType.Float, "N", tail.Classes));
        if (dLogits is not null)
        {
            c.Accumulate(tail.OutputName, dLogits);
            Backward(c, tail);
            foreach (var p in tail.Parameters)
            {
                string g = c.GradientOf(p.Name) ?? throw new ArgumentException($"The loss does not depend on parameter '{p.Name}'.", nameof(tail));
                graph.Node.Add(OnnxBuild.Node("Identity", [g], [GradientName(p.Name)]));
                graph.Output.Add(OnnxBuild.Tensor(GradientName(p.Name), TensorProto.Types.DataType.Float, [.. p.Dims.Cast<object>()]));
            }
        }
        return new StepGraph(tail, TailGraph.Serialize(graph), labelSmoothing);
    }

    private static void Backward(GradientContext c, TailGraph tail)
    {
        var constants = tail.Constants.ToDictionary(t => t.Name);
        for (int i = tail.Nodes.Count - 1; i >= 0; i--)
        {
            var node = tail.Nodes[i];
            if (c.GradientOf(node.Output[0]) is not { } dY) continue;
            switch (node.OpType)
            {
                case "Conv": ConvBackward.Apply(c, node, dY); break;
                case "Gemm": LinearBackward.Gemm(c, node, dY); break;
                case "MatMul": LinearBackward.MatMul(c, node, dY); break;
                case "Add": LinearBackward.Add(c, node, dY); break;
                case "Relu": LinearBackward.Relu(c, node, dY); break;
                case "GlobalAveragePool": PoolingBackward.GlobalAveragePool(c, node, dY); break;
                case "ReduceMean": PoolingBackward.ReduceMean(c, node, dY, constants); break;
                case "Flatten" or "Reshape": PoolingBackward.Reshape(c, node, dY); break;
                default: throw new NotSupportedException($"Node '{node.Name}' ({node.OpType}) has no backward rule.");
            }
        }
    }
}

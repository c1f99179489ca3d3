using MLNetClassify.Onnx;
using Onnx;

namespace MLNetClassify.Tuning;

/// <summary>
/// Folds inference-mode BatchNormalization into the convolution before it: BN(W∗x + b) = (s·W)∗x + (b − μ)·s + β with
/// s = γ/√(σ² + ε) per output channel, so the folded convolution computes the same map with one operator fewer and
/// trains as one layer whose statistics stay frozen.
/// </summary>
internal static class BatchNormFolding
{
    /// <summary>
    /// Folds one channel-wise BN into conv weights [Co, Ci, kh, kw] and bias [Co] (null: zero), in double precision.
    /// </summary>
    /// <returns>The folded weights and bias.</returns>
    /// <exception cref="ArgumentException">The lengths do not agree with Co = <paramref name="scale"/>.Length.</exception>
    public static (float[] Weights, float[] Bias) FoldInto(ReadOnlySpan<float> weights, ReadOnlySpan<float> bias,
        ReadOnlySpan<float> scale, ReadOnlySpan<float> shift, ReadOnlySpan<float> mean, ReadOnlySpan<float> variance, double epsilon)
    {
        int channels = scale.Length;
        if (channels == 0 || shift.Length != channels || mean.Length != channels || variance.Length != channels
            || weights.Length % channels != 0 || (bias.Length != 0 && bias.Length != channels))
            throw new ArgumentException($"BatchNormalization over {channels} channels does not fit weights of {weights.Length} values and a bias of {bias.Length}.");
        int per = weights.Length / channels;
        var w = new float[weights.Length];
        var b = new float[channels];
        for (int c = 0; c < channels; c++)
        {
            double s = scale[c] / Math.Sqrt(variance[c] + epsilon);
            for (int i = c * per; i < (c + 1) * per; i++)
                w[i] = (float)(weights[i] * s);
            b[c] = (float)(((bias.Length == 0 ? 0.0 : bias[c]) - mean[c]) * s + shift[c]);
        }
        return (w, b);
    }

    /// <summary>
    /// A copy of <paramref name="model"/> in which every BatchNormalization whose input is a Conv's output used by
    /// it alone, with constant parameters, is folded into that Conv (which then writes the BN's output and carries a bias).
    /// </summary>
    /// <exception cref="NotSupportedException">A BatchNormalization trains (more than one output, training_mode = 1).</exception>
    public static ModelProto Fold(ModelProto model)
    {
        var copy = model.Clone();
        var g = copy.Graph;
        var initializers = g.Initializer.ToDictionary(t => t.Name);
        var view = new GraphView(g);
        var uses = g.Node.SelectMany(n => n.Input).Concat(g.Output.Select(o => o.Name)).GroupBy(n => n).ToDictionary(x => x.Key, x => x.Count());
        foreach (var bn in g.Node.Where(n => n.OpType == "BatchNormalization").ToList())
        {
            if (bn.Output.Count(o => o.Length > 0) > 1 || bn.Attribute.Any(a => a.Name == "training_mode" && a.I != 0))
                throw new NotSupportedException($"BatchNormalization '{bn.Name}' is in training mode; only inference-mode BN folds.");
            if (!view.Producers.TryGetValue(bn.Input[0], out var conv) || conv.OpType != "Conv" || uses[bn.Input[0]] != 1
                || !bn.Input.Skip(1).All(initializers.ContainsKey) || !conv.Input.Skip(1).All(initializers.ContainsKey)
                || uses[conv.Input[1]] != 1 || (conv.Input.Count > 2 && uses[conv.Input[2]] != 1))
                continue;
            double epsilon = bn.Attribute.FirstOrDefault(a => a.Name == "epsilon")?.F ?? 1e-5f;
            var weight = initializers[conv.Input[1]];
            var oldBias = conv.Input.Count > 2 && conv.Input[2].Length > 0 ? OnnxBuild.ReadFloats(initializers[conv.Input[2]]) : [];
            var (w, b) = FoldInto(OnnxBuild.ReadFloats(weight), oldBias, Read(bn, 1), Read(bn, 2), Read(bn, 3), Read(bn, 4), epsilon);
            string biasName = conv.Input.Count > 2 && conv.Input[2].Length > 0 ? conv.Input[2] : $"{conv.Input[1]}_folded_bias";
            Replace(g, initializers, OnnxBuild.Floats(weight.Name, [.. weight.Dims], w));
            Replace(g, initializers, OnnxBuild.Floats(biasName, [b.Length], b));
            if (conv.Input.Count > 2) conv.Input[2] = biasName;
            else conv.Input.Add(biasName);
            conv.Output[0] = bn.Output[0];
            g.Node.Remove(bn);
        }
        // BN parameters no node reads any more.
        var read = g.Node.SelectMany(n => n.Input).ToHashSet();
        foreach (var t in g.Initializer.Where(t => !read.Contains(t.Name)).ToList())
        {
            g.Initializer.Remove(t);
            // IR 3 files list every initializer among the inputs too.
            if (g.Input.FirstOrDefault(i => i.Name == t.Name) is { } input) g.Input.Remove(input);
        }
        return copy;

        float[] Read(NodeProto bn, int index) => OnnxBuild.ReadFloats(initializers[bn.Input[index]]);
    }

    private static void Replace(GraphProto g, Dictionary<string, TensorProto> initializers, TensorProto tensor)
    {
        if (initializers.TryGetValue(tensor.Name, out var old))
            g.Initializer.Remove(old);
        g.Initializer.Add(tensor);
        initializers[tensor.Name] = tensor;
    }
}

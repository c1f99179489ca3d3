using System.Numerics.Tensors;
using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using Onnx;
using DataType = Onnx.TensorProto.Types.DataType;

namespace MLNetClassify.Onnx;

/// <summary>
/// Static int8 quantization of a featurizer graph in ONNX's QDQ form, which ONNX Runtime's CPU provider turns into
/// QLinearConv and friends (VNNI / AMX kernels): weights per output channel, symmetric int8; activations per tensor,
/// asymmetric uint8, with ranges calibrated on sample images; biases int32 at scale (input · weight).
/// </summary>
/// <remarks>
/// The graph is first simplified by ORT itself (basic level: constant folding, batch norm folded into convolutions)
/// and saved as plain ONNX, so the QDQ pairs surround the convolutions that will really run. Every quantized
/// convolution's input and output (after its ReLU, when that is its only reader) gets a Quantize/Dequantize pair.
/// Which convolutions stay float32 is measured (<see cref="SensitiveConvolutions"/>): each one quantized alone, the
/// ones that move the output most are left out.
/// </remarks>
internal static class Int8Quantizer
{
    /// <summary>The quantized graph: same input and output names as <paramref name="graph"/>.</summary>
    /// <param name="graph">A float32 featurizer graph (one image input, N×3×S×S).</param>
    /// <param name="calibration">Calibration pixels, images × 3·S·S, in the graph's input layout.</param>
    /// <param name="size">S.</param>
    /// <param name="options">Which convolutions stay float32; null: <see cref="Int8Options.Sensitive"/>.</param>
    public static byte[] Quantize(byte[] graph, float[] calibration, int size, Int8Options? options = null) =>
        Quantize(graph, calibration, size, options, out _);

    /// <summary>The quantized graph, and which convolutions stayed float32.</summary>
    /// <param name="graph">A float32 featurizer graph.</param>
    /// <param name="calibration">Calibration pixels, images × 3·S·S.</param>
    /// <param name="size">S.</param>
    /// <param name="options">Which convolutions stay float32; null: <see cref="Int8Options.Sensitive"/>.</param>
    /// <param name="floatConvolutions">The convolutions left in float32 (graph order after simplification).</param>
    public static byte[] Quantize(byte[] graph, float[] calibration, int size, Int8Options? options, out IReadOnlySet<int> floatConvolutions)
    {
        options ??= Int8Options.Sensitive;
        var model = Simplify(graph);
        NativeMemory.Trim();
        var convs = model.Graph.Node.Where(n => n.OpType == "Conv").ToList();
        var consumers = model.Graph.Node.SelectMany(n => n.Input.Select(i => (i, n))).ToLookup(p => p.i, p => p.n);
        // Ranges come from the float graph, so they hold whichever convolutions end up quantized.
        var tensors = convs.Select(c => c.Input[0]).Concat(convs.Select(c => Activated(c, consumers))).Distinct().ToList();
        var (ranges, reference) = Calibrate(model, tensors, calibration, size, options.ProbeImages, options.ClipSearch);
        NativeMemory.Trim();
        var floats = floatConvolutions = options.FloatConvolutions ?? SensitiveConvolutions(model, convs.Count, ranges, calibration, size, reference, options);
        return Rewrite(model.Clone(), floats, ranges).ToByteArray();
    }

    /// <summary>
    /// The convolutions that, quantized alone, move the features of the first calibration images most: those above
    /// <see cref="Int8Options.SensitivityFactor"/> × the median error, at most <see cref="Int8Options.MaxFloatFraction"/>
    /// of them. For ResNet18 these are the stem and the first stage (docs/speed-and-memory.md).
    /// </summary>
    internal static IReadOnlySet<int> SensitiveConvolutions(ModelProto model, int count, Dictionary<string, (float Min, float Max)> ranges, float[] calibration, int size, float[] reference, Int8Options options)
    {
        if (count == 0) return new HashSet<int>();
        var errors = ConvolutionErrors(model, count, ranges, calibration, size, reference, options.ProbeImages);
        double median = errors.Order().ElementAt(count / 2);
        int limit = (int)(options.MaxFloatFraction * count);
        return Enumerable.Range(0, count).Where(i => errors[i] > options.SensitivityFactor * median)
            .OrderByDescending(i => errors[i]).Take(limit).ToHashSet();
    }

    /// <summary>
    /// Mean relative L2 change of the output over the first <paramref name="probeImages"/> calibration images (whose
    /// float outputs <paramref name="reference"/> holds), one convolution quantized at a time.
    /// </summary>
    internal static double[] ConvolutionErrors(ModelProto model, int count, Dictionary<string, (float Min, float Max)> ranges, float[] calibration, int size, float[] reference, int probeImages)
    {
        string imageInput = ImageInput(model.Graph);
        int perImage = 3 * size * size, images = Math.Min(probeImages, calibration.Length / perImage), dims = reference.Length / images;
        var probe = calibration.AsMemory(0, images * perImage).ToArray();
        float[] Run(byte[] graph)
        {
            // Basic level: the QDQ pairs run as simulated int8 (float convolutions on dequantized values), which ranks the
            // convolutions as the fused int8 kernels would, without a prepacked float copy of every weight (peak memory).
            using var options = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_BASIC, EnableCpuMemArena = false };
            options.AddSessionConfigEntry("session.disable_prepacking", "1");
            using var session = new InferenceSession(graph, options);
            using var runOptions = new RunOptions();
            var outputs = new List<float>();
            for (int start = 0; start < images; start += 2)
            {
                int n = Math.Min(2, images - start);
                using var value = OrtValue.CreateTensorValueFromMemory(probe.AsMemory(start * perImage, n * perImage).ToArray(), [n, 3, size, size]);
                using var results = session.Run(runOptions, [imageInput], [value], [session.OutputNames[0]]);
                outputs.AddRange(results[0].GetTensorDataAsSpan<float>().ToArray());
            }
            return outputs.ToArray();
        }
        var errors = new double[count];
        var all = Enumerable.Range(0, count).ToHashSet();
        for (int c = 0; c < count; c++)
        {
            var output = Run(Rewrite(model.Clone(), all.Where(i => i != c).ToHashSet(), ranges).ToByteArray());
            // Each probe leaves a serialized graph and a session's worth of large buffers behind; collect them now
            // so that the build's peak memory is one probe's, not the sum of many (this runs once per graph build).
            GC.Collect();
            NativeMemory.Trim();
            for (int k = 0; k < images; k++)
                errors[c] += Numerics.Kernels.RelativeL2Difference(reference.AsSpan(k * dims, dims), output.AsSpan(k * dims, dims)) / images;
        }
        return errors;
    }

    private static string Activated(NodeProto conv, ILookup<string, NodeProto> consumers)
    {
        var readers = consumers[conv.Output[0]].ToList();
        return readers.Count == 1 && readers[0].OpType == "Relu" ? readers[0].Output[0] : conv.Output[0];
    }

    /// <summary>QDQ pairs around every convolution not in <paramref name="floats"/>; rewrites <paramref name="model"/> in place.</summary>
    private static ModelProto Rewrite(ModelProto model, IReadOnlySet<int> floats, Dictionary<string, (float Min, float Max)> ranges)
    {
        string imageInput = ImageInput(model.Graph);
        var g = model.Graph;
        var consumers = g.Node.SelectMany(n => n.Input.Select(i => (i, n))).ToLookup(p => p.i, p => p.n);
        var convs = g.Node.Where(n => n.OpType == "Conv").Where((_, i) => !floats.Contains(i)).ToList();
        var quantizedConvs = convs.ToHashSet();
        var outputs = convs.Select(c => Activated(c, consumers)).ToHashSet();
        var rewritten = new List<NodeProto>();
        var initializers = g.Initializer.ToDictionary(t => t.Name);
        var dequantized = new Dictionary<string, string>();
        string Activation(string tensor)
        {
            if (dequantized.TryGetValue(tensor, out var name)) return name;
            var (scale, zero) = ActivationScale(ranges[tensor]);
            g.Initializer.Add(OnnxBuild.Floats(tensor + "_qscale", [], [scale]));
            g.Initializer.Add(new TensorProto { Name = tensor + "_qzero", DataType = (int)DataType.Uint8, RawData = ByteString.CopyFrom([zero]) });
            rewritten.Add(OnnxBuild.Node("QuantizeLinear", [tensor, tensor + "_qscale", tensor + "_qzero"], [tensor + "_q"]));
            rewritten.Add(OnnxBuild.Node("DequantizeLinear", [tensor + "_q", tensor + "_qscale", tensor + "_qzero"], [tensor + "_dq"]));
            return dequantized[tensor] = tensor + "_dq";
        }

        foreach (var node in g.Node.ToList())
        {
            if (node.OpType == "Conv" && quantizedConvs.Contains(node))
            {
                string input = node.Input[0];
                if (input == imageInput || !outputs.Contains(input))
                    node.Input[0] = Activation(input); // inputs no earlier convolution quantized
                else
                    node.Input[0] = dequantized[input];
                var weightScales = QuantizeWeights(g, initializers[node.Input[1]], rewritten, out var weightName);
                node.Input[1] = weightName;
                if (node.Input.Count > 2 && node.Input[2].Length > 0)
                    node.Input[2] = QuantizeBias(g, initializers[node.Input[2]], ActivationScale(ranges[input]).Scale, weightScales, rewritten);
            }
            else
            {
                for (int i = 0; i < node.Input.Count; i++)
                    if (dequantized.TryGetValue(node.Input[i], out var dq) && !(node.OpType == "QuantizeLinear"))
                        node.Input[i] = dq;
            }
            rewritten.Add(node);
            foreach (var output in node.Output.Where(outputs.Contains))
                Activation(output);
        }

        g.Node.Clear();
        g.Node.AddRange(rewritten);
        var used = new HashSet<string>(g.Node.SelectMany(n => n.Input));
        foreach (var unused in g.Initializer.Where(t => !used.Contains(t.Name)).ToList())
            g.Initializer.Remove(unused);
        foreach (var input in g.Input.Where(i => i.Name != imageInput).ToList())
            g.Input.Remove(input);
        g.ValueInfo.Clear();
        // Per-channel DequantizeLinear needs opset 13; the simplified graph holds only ops unchanged since the backbone's opset.
        model.IrVersion = Math.Max(model.IrVersion, 7);
        model.OpsetImport.Clear();
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 13 });
        foreach (var bn in g.Node.Where(n => n.OpType == "BatchNormalization"))
            foreach (var spatial in bn.Attribute.Where(a => a.Name == "spatial").ToList())
                bn.Attribute.Remove(spatial);
        return model;
    }

    /// <summary>The graph after ONNX Runtime's basic optimizations (constant folding, batch normalization folded), saved as plain ONNX.</summary>
    internal static ModelProto Simplify(byte[] graph)
    {
        var path = Path.Combine(Path.GetTempPath(), $"mlnc-simplified-{Environment.ProcessId}-{Guid.NewGuid():N}.onnx");
        try
        {
            using (var options = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_BASIC, OptimizedModelFilePath = path, EnableCpuMemArena = false })
            {
                options.AddSessionConfigEntry("session.disable_prepacking", "1");
                using (new InferenceSession(graph, options)) { }
            }
            var model = ModelProto.Parser.ParseFrom(File.ReadAllBytes(path));
            var other = model.OpsetImport.Where(o => o.Domain is not ("" or "ai.onnx")).Select(o => o.Domain).ToHashSet();
            if (model.Graph.Node.Any(n => other.Contains(n.Domain)))
                throw new InvalidOperationException("ONNX Runtime's basic optimizations produced non-standard ops; this graph cannot be quantized here.");
            return model;
        }
        finally
        {
            try { File.Delete(path); } catch (IOException) { }
        }
    }

    /// <summary>Each tensor's range over the calibration images, and the graph's output for the first <paramref name="referenceImages"/>.</summary>
    private static (Dictionary<string, (float Min, float Max)> Ranges, float[] Reference) Calibrate(ModelProto model, List<string> tensors, float[] calibration, int size, int referenceImages, bool clipSearch = false)
    {
        string imageInput = ImageInput(model.Graph);
        var samples = tensors.ToDictionary(t => t, _ => new List<float>());
        string output = model.Graph.Output[0].Name;
        var reference = new List<float>();
        var probe = model.Clone();
        foreach (var tensor in tensors.Where(t => probe.Graph.Output.All(o => o.Name != t)))
            probe.Graph.Output.Add(new ValueInfoProto
            {
                Name = tensor,
                Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)DataType.Float } },
            });
        var ranges = tensors.ToDictionary(t => t, _ => (Min: float.MaxValue, Max: float.MinValue));
        int perImage = 3 * size * size, images = calibration.Length / perImage;
        // No arena, two images a run: every intermediate tensor is an output here, and peak memory counts: the CLI featurizes within ~600 MiB (docs/speed-and-memory.md).
        using var options = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_DISABLE_ALL, EnableCpuMemArena = false };
        using var session = new InferenceSession(probe.ToByteArray(), options);
        using var runOptions = new RunOptions();
        for (int start = 0; start < images; start += 2)
        {
            int n = Math.Min(2, images - start);
            using var value = OrtValue.CreateTensorValueFromMemory(calibration.AsMemory(start * perImage, n * perImage).ToArray(), [n, 3, size, size]);
            using var results = session.Run(runOptions, [imageInput], [value], [.. tensors, output]);
            for (int k = 0; k < tensors.Count; k++)
            {
                var data = results[k].GetTensorDataAsSpan<float>();
                var (lo, hi) = ranges[tensors[k]];
                ranges[tensors[k]] = (Math.Min(lo, TensorPrimitives.Min(data)), Math.Max(hi, TensorPrimitives.Max(data)));
                if (clipSearch)
                {
                    int stride = Math.Max(1, data.Length / 8192) | 1;
                    var list = samples[tensors[k]];
                    for (int j = start % stride; j < data.Length; j += stride) list.Add(data[j]);
                }
            }
            if (start < referenceImages)
            {
                var outputs = results[tensors.Count].GetTensorDataAsSpan<float>();
                reference.AddRange(outputs[..(outputs.Length / n * Math.Min(n, referenceImages - start))].ToArray());
            }
        }
        // Ranges widened to 8 significant bits: ORT's float kernels differ in the last bits between CPU kinds, and the
        // graph's hash names the feature-cache folder that shards on several machines fill; a coarser grid makes the
        // same scales (so the same graph) come out everywhere, at a cost of at most 0.4% of one range.
        if (clipSearch)
            foreach (var tensor in tensors)
                ranges[tensor] = BestClip(ranges[tensor], samples[tensor]);
        foreach (var tensor in tensors)
            ranges[tensor] = (-Coarse(-ranges[tensor].Min), Coarse(ranges[tensor].Max));
        return (ranges, reference.ToArray());
    }

    /// <summary>The range [f·min, f·max], f in 1.0 … 0.3, whose uint8 quantization of <paramref name="samples"/> has the least squared error.</summary>
    private static (float Min, float Max) BestClip((float Min, float Max) range, List<float> samples)
    {
        var best = range;
        double bestError = double.MaxValue;
        for (float f = 1f; f > 0.29f; f -= 0.05f)
        {
            var candidate = (Min: range.Min * f, Max: range.Max * f);
            var (scale, zero) = ActivationScale(candidate);
            double error = 0;
            foreach (float x in samples)
            {
                float q = (Math.Clamp(MathF.Round(x / scale) + zero, 0, 255) - zero) * scale;
                error += (x - q) * (double)(x - q);
            }
            if (error < bestError) (best, bestError) = (candidate, error);
        }
        return best;
    }

    /// <summary><paramref name="value"/> rounded away from zero, when positive, to 8 significant bits; else unchanged.</summary>
    internal static float Coarse(float value)
    {
        if (!(value > 0) || float.IsInfinity(value)) return value;
        const int dropped = 23 - 7; // keep the implicit bit and 7 stored mantissa bits
        int bits = BitConverter.SingleToInt32Bits(value);
        int kept = bits & ~((1 << dropped) - 1);
        return BitConverter.Int32BitsToSingle(kept == bits ? bits : kept + (1 << dropped));
    }

    /// <summary>uint8 scale and zero point covering [min, max] and 0.</summary>
    private static (float Scale, byte Zero) ActivationScale((float Min, float Max) range)
    {
        float lo = Math.Min(range.Min, 0), hi = Math.Max(range.Max, 0);
        float scale = Math.Max((hi - lo) / 255f, 1e-8f);
        return (scale, (byte)Math.Clamp(Math.Round(-lo / scale), 0, 255));
    }

    private static float[] QuantizeWeights(GraphProto g, TensorProto weights, List<NodeProto> nodes, out string dequantized)
    {
        var values = OnnxBuild.ReadFloats(weights);
        int channels = (int)weights.Dims[0], per = values.Length / channels;
        var scales = new float[channels];
        var quantized = new byte[values.Length];
        for (int c = 0; c < channels; c++)
        {
            var row = values.AsSpan(c * per, per);
            scales[c] = Math.Max(TensorPrimitives.MaxMagnitude(row) is var m ? Math.Abs(m) / 127f : 0, 1e-12f);
            for (int j = 0; j < per; j++)
                quantized[c * per + j] = unchecked((byte)(sbyte)Math.Clamp(Math.Round(row[j] / scales[c]), -127, 127));
        }
        var q = new TensorProto { Name = weights.Name + "_q", DataType = (int)DataType.Int8, RawData = ByteString.CopyFrom(quantized) };
        q.Dims.AddRange(weights.Dims);
        var zero = new TensorProto { Name = weights.Name + "_qzero", DataType = (int)DataType.Int8, RawData = ByteString.CopyFrom(new byte[channels]) };
        zero.Dims.Add(channels);
        g.Initializer.Add(q);
        g.Initializer.Add(OnnxBuild.Floats(weights.Name + "_qscale", [channels], scales));
        g.Initializer.Add(zero);
        dequantized = weights.Name + "_dq";
        nodes.Add(OnnxBuild.Node("DequantizeLinear", [q.Name, weights.Name + "_qscale", zero.Name], [dequantized], OnnxBuild.Attr("axis", 0)));
        return scales;
    }

    private static string QuantizeBias(GraphProto g, TensorProto bias, float inputScale, float[] weightScales, List<NodeProto> nodes)
    {
        var values = OnnxBuild.ReadFloats(bias);
        var scales = weightScales.Select(s => s * inputScale).ToArray();
        var q = new TensorProto { Name = bias.Name + "_q", DataType = (int)DataType.Int32 };
        q.Dims.Add(values.Length);
        q.Int32Data.AddRange(values.Select((v, c) => (int)Math.Clamp(Math.Round(v / scales[c]), int.MinValue, int.MaxValue)));
        var zero = new TensorProto { Name = bias.Name + "_qzero", DataType = (int)DataType.Int32 };
        zero.Dims.Add(values.Length);
        zero.Int32Data.AddRange(new int[values.Length]);
        g.Initializer.Add(q);
        g.Initializer.Add(OnnxBuild.Floats(bias.Name + "_qscale", [values.Length], scales));
        g.Initializer.Add(zero);
        nodes.Add(OnnxBuild.Node("DequantizeLinear", [q.Name, bias.Name + "_qscale", zero.Name], [bias.Name + "_dq"], OnnxBuild.Attr("axis", 0)));
        return bias.Name + "_dq";
    }

    /// <summary>The graph's image input: its one input that is not an initializer.</summary>
    private static string ImageInput(GraphProto g)
    {
        var initializers = g.Initializer.Select(t => t.Name).ToHashSet();
        return g.Input.First(i => !initializers.Contains(i.Name)).Name;
    }
}

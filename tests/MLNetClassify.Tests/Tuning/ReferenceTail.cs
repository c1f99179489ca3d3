using MLNetClassify.Tuning;
using Onnx;

namespace MLNetClassify.Tests.Tuning;

/// <summary>
/// A naive double-precision interpreter of a <see cref="TailGraph"/>: forward pass, softmax cross-entropy and the
/// backward pass written as plain loops from each operator's definition (no shared code with the ONNX rules).
/// </summary>
internal static class ReferenceTail
{
    internal sealed record Result(double Loss, double[] Logits, Dictionary<string, double[]> Gradients);

    private sealed record T(double[] D, long[] S);

    public static Result Run(TailGraph tail, float[] x, int n, float[] targets, IReadOnlyDictionary<string, float[]> parameters, float smoothing)
    {
        long[] Shape(string name) => [.. tail.Shapes[name].Select(d => d == TailShapes.Batch ? n : d)];
        var v = new Dictionary<string, T> { [tail.InputName] = new(x.Select(f => (double)f).ToArray(), Shape(tail.InputName)) };
        foreach (var p in tail.Parameters)
            v[p.Name] = new(parameters[p.Name].Select(f => (double)f).ToArray(), [.. p.Dims]);
        foreach (var node in tail.Nodes)
            v[node.Output[0]] = Forward(tail, node, v, Shape(node.Output[0]));

        // Loss and dZ = (p − t')/N.
        var z = v[tail.OutputName];
        int k = (int)z.S[1];
        var grads = new Dictionary<string, double[]> { [tail.OutputName] = new double[z.D.Length] };
        double loss = 0;
        for (int i = 0; i < n; i++)
        {
            double max = double.NegativeInfinity, sum = 0;
            for (int j = 0; j < k; j++) max = Math.Max(max, z.D[i * k + j]);
            for (int j = 0; j < k; j++) sum += Math.Exp(z.D[i * k + j] - max);
            for (int j = 0; j < k; j++)
            {
                double logp = z.D[i * k + j] - max - Math.Log(sum);
                double t = targets[i * k + j] * (1 - (double)smoothing) + (double)smoothing / k;
                loss -= t * logp / n;
                grads[tail.OutputName][i * k + j] = (Math.Exp(logp) - t) / n;
            }
        }
        for (int i = tail.Nodes.Count - 1; i >= 0; i--)
        {
            var node = tail.Nodes[i];
            if (!grads.TryGetValue(node.Output[0], out var dy)) continue;
            foreach (var input in node.Input.Where(name => v.ContainsKey(name)))
                if (!grads.ContainsKey(input)) grads[input] = new double[v[input].D.Length];
            Backward(tail, node, v, dy, grads);
        }
        return new Result(loss, z.D, tail.Parameters.ToDictionary(p => p.Name, p => grads[p.Name]));
    }

    /// <summary>The flat index into a tensor shaped <paramref name="from"/> that broadcasting maps output index <paramref name="flat"/> (of shape <paramref name="to"/>) to.</summary>
    private static long Map(long flat, long[] to, long[] from)
    {
        long index = 0, stride = 1;
        for (int a = to.Length - 1; a >= 0; a--)
        {
            long coord = flat % to[a];
            flat /= to[a];
            int b = a - (to.Length - from.Length);
            if (b < 0) continue;
            if (from[b] != 1) index += coord * stride;
            stride *= from[b];
        }
        return index;
    }

    private static long[] Kept(TailGraph tail, NodeProto node, long[] x) => node.OpType == "GlobalAveragePool"
        ? [x[0], x[1], 1, 1]
        : [.. x.Select((d, i) => TailShapes.ReduceAxes(node, x.Length, tail.Constants.ToDictionary(c => c.Name)).Contains(i) ? 1 : d)];

    private static (double Alpha, double Beta, bool TransB) GemmAttributes(NodeProto node) => node.OpType == "MatMul" ? (1, 1, false) : (
        node.Attribute.FirstOrDefault(a => a.Name == "alpha")?.F ?? 1, node.Attribute.FirstOrDefault(a => a.Name == "beta")?.F ?? 1,
        node.Attribute.FirstOrDefault(a => a.Name == "transB")?.I == 1);

    private static T Forward(TailGraph tail, NodeProto node, Dictionary<string, T> v, long[] shape)
    {
        var x = v[node.Input[0]];
        var y = new double[shape.Aggregate(1L, (p, d) => p * d)];
        switch (node.OpType)
        {
            case "Conv":
                ConvLoops(tail, node, v, shape, (yi, xi, wi) => y[yi] += x.D[xi] * v[node.Input[1]].D[wi], (yi, o) => y[yi] += v[node.Input[2]].D[o]);
                break;
            case "Relu":
                for (int i = 0; i < y.Length; i++) y[i] = Math.Max(x.D[i], 0);
                break;
            case "Add":
                var b = v[node.Input[1]];
                for (long i = 0; i < y.Length; i++) y[i] = x.D[Map(i, shape, x.S)] + b.D[Map(i, shape, b.S)];
                break;
            case "GlobalAveragePool" or "ReduceMean":
                var kept = Kept(tail, node, x.S);
                long count = x.D.Length / y.Length;
                for (long i = 0; i < x.D.Length; i++) y[Map(i, x.S, kept)] += x.D[i] / count;
                break;
            case "Flatten" or "Reshape":
                Array.Copy(x.D, y, y.Length);
                break;
            case "Gemm" or "MatMul":
                var (alpha, beta, transB) = GemmAttributes(node);
                var w = v[node.Input[1]];
                long rows = shape[0], cols = shape[1], inner = x.S[1];
                for (long r = 0; r < rows; r++)
                    for (long c = 0; c < cols; c++)
                    {
                        double s = 0;
                        for (long j = 0; j < inner; j++) s += x.D[r * inner + j] * w.D[transB ? c * inner + j : j * cols + c];
                        y[r * cols + c] = alpha * s + (node.Input.Count > 2 ? beta * v[node.Input[2]].D[Map(r * cols + c, shape, v[node.Input[2]].S)] : 0);
                    }
                break;
            default:
                throw new NotSupportedException(node.OpType);
        }
        return new T(y, shape);
    }

    private static void Backward(TailGraph tail, NodeProto node, Dictionary<string, T> v, double[] dy, Dictionary<string, double[]> g)
    {
        var x = v[node.Input[0]];
        var shape = v[node.Output[0]].S;
        var dx = g[node.Input[0]];
        switch (node.OpType)
        {
            case "Conv":
                var w = v[node.Input[1]];
                var dw = g[node.Input[1]];
                ConvLoops(tail, node, v, shape, (yi, xi, wi) => { dx[xi] += w.D[wi] * dy[yi]; dw[wi] += x.D[xi] * dy[yi]; },
                    (yi, o) => g[node.Input[2]][o] += dy[yi]);
                break;
            case "Relu":
                for (int i = 0; i < dy.Length; i++) dx[i] += x.D[i] > 0 ? dy[i] : 0;
                break;
            case "Add":
                foreach (var input in node.Input)
                    for (long i = 0; i < dy.Length; i++) g[input][Map(i, shape, v[input].S)] += dy[i];
                break;
            case "GlobalAveragePool" or "ReduceMean":
                var kept = Kept(tail, node, x.S);
                long count = x.D.Length / dy.Length;
                for (long i = 0; i < x.D.Length; i++) dx[i] += dy[Map(i, x.S, kept)] / count;
                break;
            case "Flatten" or "Reshape":
                for (int i = 0; i < dy.Length; i++) dx[i] += dy[i];
                break;
            case "Gemm" or "MatMul":
                var (alpha, beta, transB) = GemmAttributes(node);
                var b = v[node.Input[1]];
                var db = g[node.Input[1]];
                long rows = shape[0], cols = shape[1], inner = x.S[1];
                for (long r = 0; r < rows; r++)
                    for (long c = 0; c < cols; c++)
                    {
                        double d = dy[r * cols + c];
                        for (long j = 0; j < inner; j++)
                        {
                            long bi = transB ? c * inner + j : j * cols + c;
                            dx[r * inner + j] += alpha * d * b.D[bi];
                            db[bi] += alpha * d * x.D[r * inner + j];
                        }
                        if (node.Input.Count > 2) g[node.Input[2]][Map(r * cols + c, shape, v[node.Input[2]].S)] += beta * d;
                    }
                break;
        }
    }

    /// <summary>Visits every (output, input, weight) index triple of a convolution, then every (output, channel) bias pair.</summary>
    private static void ConvLoops(TailGraph tail, NodeProto node, Dictionary<string, T> v, long[] y, Action<long, long, long> tap, Action<long, long> bias)
    {
        var g = ConvGeometry.Of(node, tail.Shapes);
        var x = v[node.Input[0]].S;
        long n = y[0], co = y[1], oh = y[2], ow = y[3], ci = x[1], h = x[2], wd = x[3];
        bool hasBias = node.Input.Count > 2 && node.Input[2].Length > 0;
        for (long b = 0; b < n; b++)
            for (long o = 0; o < co; o++)
                for (long i = 0; i < oh; i++)
                    for (long j = 0; j < ow; j++)
                    {
                        long yi = ((b * co + o) * oh + i) * ow + j;
                        if (hasBias) bias(yi, o);
                        for (long c = 0; c < ci; c++)
                            for (long a = 0; a < g.KernelH; a++)
                            {
                                long r = i * g.StrideH + a - g.Pads[0];
                                if (r < 0 || r >= h) continue;
                                for (long e = 0; e < g.KernelW; e++)
                                {
                                    long col = j * g.StrideW + e - g.Pads[1];
                                    if (col < 0 || col >= wd) continue;
                                    tap(yi, ((b * ci + c) * h + r) * wd + col, ((o * ci + c) * g.KernelH + a) * g.KernelW + e);
                                }
                            }
                    }
    }
}

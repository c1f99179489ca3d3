using Microsoft.ML.OnnxRuntime;
using MLNetClassify.Onnx;
using MLNetClassify.Tuning;
using Onnx;

namespace MLNetClassify.Tests.Tuning;

/// <summary>Writes small forward tails (opset 13) with seeded random weights, one operator a call.</summary>
internal sealed class TailModels(int seed)
{
    private readonly GraphProto _g = new() { Name = "test_tail" };
    private readonly Random _rng = new(seed);
    private int _n;

    public const string Input = "x";

    public float[] Random(int count, double scale) => [.. Enumerable.Range(0, count).Select(_ => (float)((_rng.NextDouble() * 2 - 1) * scale))];

    private string Param(string hint, long[] dims, double scale)
    {
        string name = $"{hint}{_n++}";
        _g.Initializer.Add(OnnxBuild.Floats(name, dims, Random((int)dims.Aggregate(1L, (p, d) => p * d), scale)));
        return name;
    }

    private string Node(string op, string[] inputs, params AttributeProto[] attributes)
    {
        string output = $"{op.ToLowerInvariant()}{_n++}";
        _g.Node.Add(OnnxBuild.Node(op, inputs, [output], attributes));
        return output;
    }

    public string Conv(string x, int ci, int co, int k, int stride, long[] pads, bool bias = true)
    {
        string w = Param("w", [co, ci, k, k], Math.Sqrt(3.0 / (ci * k * k)));
        string[] inputs = bias ? [x, w, Param("b", [co], 0.5)] : [x, w];
        return Node("Conv", inputs, OnnxBuild.Ints("kernel_shape", k, k), OnnxBuild.Ints("strides", stride, stride), OnnxBuild.Ints("pads", pads));
    }

    public string BatchNorm(string x, int c)
    {
        string scale = Param("gamma", [c], 1), shift = Param("beta", [c], 1), mean = Param("mean", [c], 1);
        string variance = $"var{_n++}";
        _g.Initializer.Add(OnnxBuild.Floats(variance, [c], [.. Random(c, 1).Select(v => 0.2f + MathF.Abs(v))]));
        return Node("BatchNormalization", [x, scale, shift, mean, variance], OnnxBuild.Float("epsilon", 1e-5f));
    }

    public string Relu(string x) => Node("Relu", [x]);
    public string Add(string a, string b) => Node("Add", [a, b]);
    public string Gap(string x) => Node("GlobalAveragePool", [x]);
    public string Flatten(string x) => Node("Flatten", [x], OnnxBuild.Attr("axis", 1));
    public string ReduceMean(string x, bool keepDims) => Node("ReduceMean", [x], OnnxBuild.Ints("axes", 2, 3), OnnxBuild.Attr("keepdims", keepDims ? 1 : 0));

    public string Reshape(string x, params long[] shape)
    {
        string s = $"shape{_n++}";
        _g.Initializer.Add(OnnxBuild.Int64s(s, [shape.Length], shape));
        return Node("Reshape", [x, s]);
    }

    public string Gemm(string x, int inputs, int outputs, bool transB = true, float alpha = 1, float beta = 1) =>
        Node("Gemm", [x, Param("fc", transB ? [outputs, inputs] : [inputs, outputs], Math.Sqrt(3.0 / inputs)), Param("fcb", [outputs], 0.5)],
            OnnxBuild.Attr("transB", transB ? 1 : 0), OnnxBuild.Float("alpha", alpha), OnnxBuild.Float("beta", beta));

    public string MatMul(string x, int inputs, int outputs) => Node("MatMul", [x, Param("mm", [inputs, outputs], Math.Sqrt(3.0 / inputs))]);

    public string Bias(string x, params long[] dims) => Node("Add", [x, Param("bias", dims, 0.5)]);

    /// <summary>The model from input [N, C, H, W] to <paramref name="output"/>.</summary>
    public ModelProto Finish(string output, int[] inputShape)
    {
        var g = _g.Clone();
        g.Input.Add(OnnxBuild.Tensor(Input, TensorProto.Types.DataType.Float, "N", inputShape[0], inputShape[1], inputShape[2]));
        g.Output.Add(OnnxBuild.Tensor(output, TensorProto.Types.DataType.Float));
        var model = new ModelProto { IrVersion = 7, Graph = g };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 13 });
        return model;
    }
}

/// <summary>Runs a graph once in ONNX Runtime (CPU) on float inputs.</summary>
internal static class OrtRun
{
    public static Dictionary<string, float[]> Floats(byte[] model, IEnumerable<(string Name, float[] Data, long[] Shape)> inputs, params string[] outputs)
    {
        using var options = new SessionOptions { IntraOpNumThreads = 1 };
        using var session = new InferenceSession(model, options);
        return Floats(session, inputs, outputs);
    }

    public static Dictionary<string, float[]> Floats(InferenceSession session, IEnumerable<(string Name, float[] Data, long[] Shape)> inputs, params string[] outputs)
    {
        var list = inputs.ToList();
        var values = list.Select(i => OrtValue.CreateTensorValueFromMemory(i.Data, i.Shape)).ToList();
        try
        {
            using var runOptions = new RunOptions();
            using var results = session.Run(runOptions, list.Select(i => i.Name).ToList(), values, outputs);
            return outputs.Select((name, i) => (name, results[i].GetTensorDataAsSpan<float>().ToArray())).ToDictionary(p => p.name, p => p.Item2);
        }
        finally
        {
            foreach (var v in values) v.Dispose();
        }
    }

    /// <summary>The inputs of a step graph: x, one-hot targets for <paramref name="labels"/>, and the parameters.</summary>
    public static List<(string, float[], long[])> StepInputs(TailGraph tail, float[] x, int[] labels, IReadOnlyDictionary<string, float[]> parameters)
    {
        var shape = tail.Shapes[tail.InputName];
        int k = tail.Classes;
        var targets = new float[labels.Length * k];
        for (int i = 0; i < labels.Length; i++) targets[i * k + labels[i]] = 1;
        var list = new List<(string, float[], long[])>
        {
            (tail.InputName, x, [labels.Length, shape[1], shape[2], shape[3]]),
            (StepGraph.TargetsName, targets, [labels.Length, k]),
        };
        list.AddRange(tail.Parameters.Select(p => (p.Name, parameters[p.Name], p.Dims.ToArray())));
        return list;
    }
}

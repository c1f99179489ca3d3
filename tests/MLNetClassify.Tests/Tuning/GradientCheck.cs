using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using MLNetClassify.Onnx;
using MLNetClassify.Tuning;
using Onnx;
using Xunit.Abstractions;

namespace MLNetClassify.Tests.Tuning;

/// <summary>
/// Runs a tail's step graph in ONNX Runtime and checks it against <see cref="ReferenceTail"/> (double precision) and
/// against central finite differences of the loss-only graph, also run in ONNX Runtime.
/// </summary>
internal sealed class GradientCheck
{
    /// <summary>Largest |g − reference| over the largest |reference|, per parameter, that passes.</summary>
    public const double ReferenceTolerance = 1e-4;

    public required TailGraph Tail { get; init; }
    public required float[] X { get; init; }
    public required int[] Labels { get; init; }
    public required Dictionary<string, float[]> Parameters { get; init; }
    public float Smoothing { get; init; }

    public static GradientCheck For(ModelProto model, int[] inputShape, int batch, int seed, float smoothing = 0)
    {
        var tail = TailGraph.FromModel(BatchNormFolding.Fold(model), inputShape);
        var rng = new Random(seed);
        var x = Enumerable.Range(0, batch * inputShape.Aggregate(1, (p, d) => p * d)).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        var labels = Enumerable.Range(0, batch).Select(_ => rng.Next(tail.Classes)).ToArray();
        return new GradientCheck
        {
            Tail = tail, X = x, Labels = labels, Smoothing = smoothing,
            Parameters = tail.Parameters.ToDictionary(p => p.Name, OnnxBuild.ReadFloats),
        };
    }

    /// <summary>The step graph's loss, logits and gradients.</summary>
    public Dictionary<string, float[]> RunStep()
    {
        var step = StepGraph.Build(Tail, Smoothing);
        string[] outputs = [StepGraph.LossName, Tail.OutputName, .. Tail.Parameters.Select(p => StepGraph.GradientName(p.Name))];
        return OrtRun.Floats(step.Model, OrtRun.StepInputs(Tail, X, Labels, Parameters), outputs);
    }

    public ReferenceTail.Result RunReference()
    {
        int k = Tail.Classes;
        var targets = new float[Labels.Length * k];
        for (int i = 0; i < Labels.Length; i++) targets[i * k + Labels[i]] = 1;
        return ReferenceTail.Run(Tail, X, Labels.Length, targets, Parameters, Smoothing);
    }

    /// <summary>Asserts loss, logits and every gradient within <see cref="ReferenceTolerance"/> of the reference; returns the worst gradient error.</summary>
    public double AssertMatchesReference(Dictionary<string, float[]> step, ReferenceTail.Result reference, ITestOutputHelper? output = null)
    {
        Assert.True(Math.Abs(step[StepGraph.LossName][0] - reference.Loss) <= ReferenceTolerance * Math.Abs(reference.Loss),
            $"loss {step[StepGraph.LossName][0]} against {reference.Loss}");
        Assert.True(MaxRelative(step[Tail.OutputName], reference.Logits) <= ReferenceTolerance, "logits differ");
        double worst = 0;
        foreach (var p in Tail.Parameters)
        {
            double error = MaxRelative(step[StepGraph.GradientName(p.Name)], reference.Gradients[p.Name]);
            output?.WriteLine($"{p.Name} [{string.Join("x", p.Dims)}]: max|g - ref|/max|ref| = {error:E2}");
            Assert.True(error <= ReferenceTolerance, $"gradient of {p.Name}: {error:E2} relative to the double reference");
            worst = Math.Max(worst, error);
        }
        return worst;
    }

    public static double MaxRelative(float[] actual, double[] reference)
    {
        Assert.Equal(reference.Length, actual.Length);
        double diff = 0, scale = 0;
        for (int i = 0; i < actual.Length; i++)
        {
            diff = Math.Max(diff, Math.Abs(actual[i] - reference[i]));
            scale = Math.Max(scale, Math.Abs(reference[i]));
        }
        return diff / Math.Max(scale, 1e-30);
    }

    /// <summary>
    /// Central differences (f(θ + ε) − f(θ − ε))/2ε of the float32 loss graph at <paramref name="perParameter"/>
    /// coordinates of each parameter (those of largest |gradient| and random others), with ε relative to the
    /// parameter tensor's largest magnitude. A difference is only a derivative where no ReLU changes side between
    /// θ − ε and θ + ε, so coordinates whose perturbation flips any ReLU (seen on the ReLU outputs, which the loss graph
    /// also returns here) are left out and counted.
    /// </summary>
    public (List<(string Parameter, int Index, double Gradient, double Difference, double Step)> Pairs, int Skipped, double Loss) FiniteDifferences(
        Dictionary<string, float[]> step, int perParameter, double relativeEpsilon, int seed)
    {
        var lossGraph = ModelProto.Parser.ParseFrom(StepGraph.Build(Tail, Smoothing, withGradients: false).Model);
        var relus = Tail.Nodes.Where(n => n.OpType == "Relu").Select(n => n.Output[0]).ToArray();
        foreach (var r in relus)
            lossGraph.Graph.Output.Add(new ValueInfoProto
            {
                Name = r, // shape left unstated (an empty shape would declare a scalar)
                Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float } },
            });
        using var options = new SessionOptions { IntraOpNumThreads = 1 };
        using var session = new InferenceSession(lossGraph.ToByteArray(), options);
        var inputs = OrtRun.StepInputs(Tail, X, Labels, Parameters);
        (double Loss, bool[] Signs) Run()
        {
            var r = OrtRun.Floats(session, inputs, [StepGraph.LossName, .. relus]);
            return (r[StepGraph.LossName][0], [.. relus.SelectMany(n => r[n]).Select(v => v > 0)]);
        }
        var (baseLoss, baseSigns) = Run();
        var rng = new Random(seed);
        var pairs = new List<(string, int, double, double, double)>();
        int skipped = 0;
        foreach (var p in Tail.Parameters)
        {
            var values = Parameters[p.Name];
            var gradient = step[StepGraph.GradientName(p.Name)];
            float eps = (float)(relativeEpsilon * Math.Max(values.Max(Math.Abs), 1e-3f));
            // Half the coordinates of largest |gradient| (a sparse ReLU network leaves many exact zeros), half at random.
            var largest = Enumerable.Range(0, gradient.Length).OrderByDescending(i => Math.Abs(gradient[i])).Take(perParameter / 2);
            foreach (int i in largest.Concat(Enumerable.Range(0, perParameter - perParameter / 2).Select(_ => rng.Next(values.Length))).Distinct())
            {
                float original = values[i];
                values[i] = original + eps;
                var plus = Run();
                values[i] = original - eps;
                var minus = Run();
                values[i] = original;
                if (!plus.Signs.SequenceEqual(baseSigns) || !minus.Signs.SequenceEqual(baseSigns))
                {
                    skipped++;
                    continue;
                }
                // The step actually taken in float32.
                double h = (double)(original + eps) - (original - eps);
                pairs.Add((p.Name, i, gradient[i], (plus.Loss - minus.Loss) / h, h));
            }
        }
        return (pairs, skipped, baseLoss);
    }
}

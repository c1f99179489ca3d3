using MLNetClassify.Tuning;
using Onnx;
using Xunit.Abstractions;

namespace MLNetClassify.Tests.Tuning;

public class StepGraphTests(ITestOutputHelper output)
{
    /// <summary>ε of the central differences: this fraction of the parameter tensor's largest magnitude.</summary>
    private const double Epsilon = 1e-2;

    /// <summary>
    /// A difference passes when |fd − g| ≤ 1e-2·|g| + 1e-3·max|g| + 4·ulp(loss)/2ε, max over the checked coordinates of
    /// that tensor. The last term is the resolution of a float32 loss: each of f(θ ± ε) is rounded to its ulp
    /// (2^−23·|loss|) and more in the sums before it, so a gradient smaller than a few ulps over 2ε cannot be told
    /// apart from its neighbours; the ε² truncation of a smooth (no ReLU flipped) loss is far below the first terms.
    /// </summary>
    private const double FdRelative = 1e-2, FdFloor = 1e-3;

    /// <summary>Small tails, one per operator or variant, each ending in logits [N, K]; input [C, H, W].</summary>
    private static (ModelProto Model, int[] Input) Case(string name)
    {
        var m = new TailModels(name.Sum(ch => ch)); // a seed fixed across processes (string hashes are not)
        const string x = TailModels.Input;
        string Head(string map, int c) => m.Gemm(m.Flatten(m.Gap(map)), c, 5);
        (ModelProto, int[]) F(string logits, int[] shape) => (m.Finish(logits, shape), shape);
        return name switch
        {
            "conv3x3-stride1-bias" => F(Head(m.Relu(m.Conv(x, 3, 4, 3, 1, [1, 1, 1, 1])), 4), [3, 6, 6]),
            "conv3x3-stride2-pad1-remainder" => F(Head(m.Conv(x, 3, 4, 3, 2, [1, 1, 1, 1], bias: false), 4), [3, 6, 6]),
            "conv3x3-stride2-cntk-pads" => F(Head(m.Conv(x, 3, 4, 3, 2, [1, 1, 0, 0]), 4), [3, 7, 7]),
            "conv3x3-stride2-asymmetric-pads" => F(Head(m.Conv(x, 3, 4, 3, 2, [1, 0, 0, 1]), 4), [3, 7, 6]),
            "conv1x1-stride2-downsample" => F(Head(m.Conv(x, 3, 4, 1, 2, [0, 0, 0, 0]), 4), [3, 6, 6]),
            "conv-bn-relu" => F(Head(m.Relu(m.BatchNorm(m.Conv(x, 3, 4, 3, 1, [1, 1, 1, 1], bias: false), 4)), 4), [3, 5, 5]),
            "basic-block-downsample" => F(Head(BasicBlock(m, x, 3, 4), 4), [3, 6, 6]),
            "two-relu-consumers" => F(Head(m.Add(m.Relu(m.Conv(x, 3, 4, 1, 1, [0, 0, 0, 0])), m.Relu(m.Conv(x, 3, 4, 1, 1, [0, 0, 0, 0]))), 4), [3, 4, 4]),
            "reducemean-matmul-bias" => F(m.Bias(m.MatMul(m.ReduceMean(m.Relu(m.Conv(x, 3, 4, 3, 1, [1, 1, 1, 1])), keepDims: false), 4, 5), 5), [3, 5, 5]),
            "reducemean-keepdims-reshape-gemm" => F(
                m.Gemm(m.Reshape(m.ReduceMean(m.Conv(x, 3, 4, 3, 1, [1, 1, 1, 1]), keepDims: true), 0, 4), 4, 5, transB: false, alpha: 0.7f, beta: 1.3f), [3, 5, 5]),
            "channel-bias-broadcast" => F(Head(m.Relu(m.Bias(m.Conv(x, 3, 4, 3, 1, [1, 1, 1, 1], bias: false), 4, 1, 1)), 4), [3, 5, 5]),
            "flatten-gemm" => F(m.Gemm(m.Flatten(m.Relu(m.Conv(x, 3, 2, 3, 2, [1, 1, 1, 1]))), 2 * 3 * 3, 5), [3, 5, 5]),
            _ => throw new ArgumentException(name),
        };
    }

    /// <summary>ResNet's BasicBlock with a stride-2 downsample: conv3×3/2-BN-ReLU-conv3×3-BN + conv1×1/2-BN, added, ReLU.</summary>
    internal static string BasicBlock(TailModels m, string x, int ci, int co)
    {
        string branch = m.BatchNorm(m.Conv(m.Relu(m.BatchNorm(m.Conv(x, ci, co, 3, 2, [1, 1, 1, 1], bias: false), co)), co, co, 3, 1, [1, 1, 1, 1], bias: false), co);
        string shortcut = m.BatchNorm(m.Conv(x, ci, co, 1, 2, [0, 0, 0, 0], bias: false), co);
        return m.Relu(m.Add(branch, shortcut));
    }

    public static TheoryData<string> Cases() =>
    [
        "conv3x3-stride1-bias", "conv3x3-stride2-pad1-remainder", "conv3x3-stride2-cntk-pads", "conv3x3-stride2-asymmetric-pads", "conv1x1-stride2-downsample", "conv-bn-relu",
        "basic-block-downsample", "two-relu-consumers", "reducemean-matmul-bias", "reducemean-keepdims-reshape-gemm", "channel-bias-broadcast",
        "flatten-gemm",
    ];

    [Theory]
    [MemberData(nameof(Cases))]
    public void Gradients_MatchDoubleReferenceAndFiniteDifferences(string name)
    {
        var (model, input) = Case(name);
        var check = GradientCheck.For(model, input, batch: 3, seed: 7);
        var step = check.RunStep();
        check.AssertMatchesReference(step, check.RunReference(), output);
        AssertFiniteDifferences(check, step, perParameter: 6);
    }

    [Fact]
    public void LabelSmoothing_MatchesReference()
    {
        var (model, input) = Case("conv3x3-stride1-bias");
        var check = GradientCheck.For(model, input, batch: 4, seed: 3, smoothing: 0.1f);
        var step = check.RunStep();
        check.AssertMatchesReference(step, check.RunReference(), output);
        var plain = (GradientCheck.For(model, input, batch: 4, seed: 3)).RunStep();
        Assert.NotEqual(plain[StepGraph.LossName][0], step[StepGraph.LossName][0]);
    }

    internal void AssertFiniteDifferences(GradientCheck check, Dictionary<string, float[]> step, int perParameter, double epsilon = Epsilon)
    {
        var (pairs, skipped, loss) = check.FiniteDifferences(step, perParameter, epsilon, seed: 11);
        double ulp = Math.Abs(loss) * Math.Pow(2, -23);
        output.WriteLine($"{pairs.Count} differences checked, {skipped} left out (a ReLU changed side)");
        Assert.True(skipped <= pairs.Count, $"{skipped} of {pairs.Count + skipped} perturbations flipped a ReLU: too few smooth coordinates to check");
        foreach (var group in pairs.GroupBy(p => p.Parameter))
        {
            double scale = group.Max(p => Math.Abs(p.Gradient));
            double Tolerance((string, int, double Gradient, double, double Step) p) => FdRelative * Math.Abs(p.Gradient) + FdFloor * scale + 4 * ulp / p.Step;
            double worst = group.Max(p => Math.Abs(p.Difference - p.Gradient) / Tolerance(p));
            output.WriteLine($"{group.Key}: {group.Count()} differences, worst at {worst:F3} of the tolerance (max|g| {scale:E2})");
            foreach (var p in group)
                Assert.True(Math.Abs(p.Difference - p.Gradient) <= Tolerance(p),
                    $"{p.Parameter}[{p.Index}]: finite difference {p.Difference:E4}, gradient {p.Gradient:E4}");
        }
    }
}

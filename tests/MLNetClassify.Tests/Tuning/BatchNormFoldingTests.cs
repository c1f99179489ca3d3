using Google.Protobuf;
using MLNetClassify.Onnx;
using MLNetClassify.Tuning;

namespace MLNetClassify.Tests.Tuning;

public class BatchNormFoldingTests
{
    [Theory]
    [InlineData(3, 1, true)]
    [InlineData(3, 2, false)]
    [InlineData(1, 2, false)]
    public void Fold_ConvOutputEqualsConvThenBatchNorm(int kernel, int stride, bool bias)
    {
        var m = new TailModels(kernel * 10 + stride);
        long pad = kernel / 2;
        string y = m.BatchNorm(m.Conv(TailModels.Input, 5, 6, kernel, stride, [pad, pad, pad, pad], bias), 6);
        var model = m.Finish(y, [5, 9, 9]);
        var folded = BatchNormFolding.Fold(model);
        Assert.DoesNotContain(folded.Graph.Node, n => n.OpType == "BatchNormalization");
        Assert.Single(folded.Graph.Node);

        var x = m.Random(2 * 5 * 9 * 9, 2);
        (string, float[], long[])[] inputs = [(TailModels.Input, x, [2, 5, 9, 9])];
        var expected = OrtRun.Floats(model.ToByteArray(), inputs, y)[y];
        var actual = OrtRun.Floats(folded.ToByteArray(), inputs, y)[y];
        // Relative to the output's largest magnitude: float32 rounding of the two orders of operations.
        double scale = expected.Max(Math.Abs);
        double worst = expected.Zip(actual, (e, a) => Math.Abs(e - a)).Max();
        Assert.True(worst <= 1e-5 * scale, $"folded output differs by {worst:E2} (scale {scale:E2})");
    }

    [Fact]
    public void FoldInto_MatchesTheFormulaPerChannel()
    {
        float[] w = [1, 2, 3, 4], b = [0.5f, -1], gamma = [2, 3], beta = [0.1f, 0.2f], mean = [1, -2], variance = [4, 0.25f];
        var (fw, fb) = BatchNormFolding.FoldInto(w, b, gamma, beta, mean, variance, 0);
        // s = γ/√σ²: channel 0 → 1, channel 1 → 6.
        Assert.Equal([1f, 2f, 18f, 24f], fw);
        Assert.Equal(-0.5 * 1 + 0.1, fb[0], 6);
        Assert.Equal(1 * 6 + 0.2, fb[1], 5);
        Assert.Throws<ArgumentException>(() => BatchNormFolding.FoldInto(w, b, gamma, beta, mean, [1], 0));
    }

    [Fact]
    public void Fold_LeavesABatchNormAfterANonConvolution()
    {
        var m = new TailModels(1);
        string y = m.BatchNorm(m.Relu(TailModels.Input), 3);
        var folded = BatchNormFolding.Fold(m.Finish(y, [3, 4, 4]));
        Assert.Contains(folded.Graph.Node, n => n.OpType == "BatchNormalization");
        Assert.Throws<NotSupportedException>(() => TailGraph.FromModel(folded, [3, 4, 4]));
    }
}

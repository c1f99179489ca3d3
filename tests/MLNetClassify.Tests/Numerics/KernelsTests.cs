using MLNetClassify.Numerics;

namespace MLNetClassify.Tests.Numerics;

public class KernelsTests
{
    private static double[] NaiveSoftmax(float[] x)
    {
        double max = x.Max();
        var e = x.Select(v => Math.Exp(v - max)).ToArray();
        double sum = e.Sum();
        return e.Select(v => v / sum).ToArray();
    }

    private static float[] RandomLogits(Random rng, int n, double scale) =>
        Enumerable.Range(0, n).Select(_ => (float)((rng.NextDouble() * 2 - 1) * scale)).ToArray();

    [Theory]
    [InlineData(1, 1.0)]
    [InlineData(7, 3.0)]
    [InlineData(100, 30.0)]
    public void Softmax_RandomLogits_MatchesNaiveDouble(int n, double scale)
    {
        var rng = new Random(42);
        for (int trial = 0; trial < 20; trial++)
        {
            var x = RandomLogits(rng, n, scale);
            var p = new float[n];
            Kernels.Softmax(x, p);
            var expected = NaiveSoftmax(x);
            for (int i = 0; i < n; i++)
                Assert.Equal(expected[i], p[i], 1e-6);
        }
    }

    [Fact]
    public void Softmax_LogitsOfPlusMinus1e4_StayFiniteAndCorrect()
    {
        float[] x = [1e4f, -1e4f, 1e4f - 1f, 0f];
        var p = new float[4];
        Kernels.Softmax(x, p);
        Assert.All(p, v => Assert.True(float.IsFinite(v)));
        var expected = NaiveSoftmax(x);
        for (int i = 0; i < 4; i++)
            Assert.Equal(expected[i], p[i], 1e-6);
        Assert.Equal(1.0, p.Sum(), 1e-6);
    }

    [Fact]
    public void LogSoftmax_LogitsOfPlusMinus1e4_MatchesNaiveDouble()
    {
        float[] x = [1e4f, -1e4f, 9999f, 0f];
        var l = new float[4];
        Kernels.LogSoftmax(x, l);
        double max = x.Max();
        double lse = max + Math.Log(x.Sum(v => Math.Exp(v - max)));
        for (int i = 0; i < 4; i++)
            Assert.Equal(x[i] - lse, l[i], 1e-2); // float spacing near 1e4 is ~1e-3
        Assert.All(l, v => Assert.True(float.IsFinite(v)));
    }

    [Fact]
    public void CrossEntropyWithGradient_MatchesNaiveAndFiniteDifferences()
    {
        var rng = new Random(7);
        var x = RandomLogits(rng, 6, 4);
        var g = new float[6];
        float loss = Kernels.CrossEntropyWithGradient(x, 2, g);
        var p = NaiveSoftmax(x);
        Assert.Equal(-Math.Log(p[2]), loss, 1e-5);
        for (int i = 0; i < 6; i++)
        {
            Assert.Equal(p[i] - (i == 2 ? 1 : 0), g[i], 1e-6);
            // Central difference in double on the naive loss.
            double h = 1e-3;
            var up = x.Select((v, j) => j == i ? v + h : v).Select(v => (float)v).ToArray();
            var down = x.Select((v, j) => j == i ? v - h : v).Select(v => (float)v).ToArray();
            double numeric = (-Math.Log(NaiveSoftmax(up)[2]) + Math.Log(NaiveSoftmax(down)[2])) / (2 * h);
            Assert.Equal(numeric, g[i], 1e-3);
        }
    }

    [Fact]
    public void CrossEntropyWithGradient_LabelProbabilityUnderflows_LossStaysFinite()
    {
        float[] x = [1e4f, -1e4f];
        var g = new float[2];
        float loss = Kernels.CrossEntropyWithGradient(x, 1, g);
        Assert.Equal(2e4f, loss, 1f);
        Assert.Equal(1f, g[0], 1e-6f);
        Assert.Equal(-1f, g[1], 1e-6f);
    }

    [Fact]
    public void Softmax_ThrowsForEmptyOrShortDestination()
    {
        Assert.Throws<ArgumentException>(() => Kernels.Softmax([], new float[1]));
        Assert.Throws<ArgumentException>(() => Kernels.Softmax([1f, 2f], new float[1]));
    }

    [Fact]
    public void CrossEntropyWithGradient_ThrowsForLabelOutOfRange()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => Kernels.CrossEntropyWithGradient([1f, 2f], 2, new float[2]));
        Assert.Throws<ArgumentOutOfRangeException>(() => Kernels.CrossEntropyWithGradient([1f, 2f], -1, new float[2]));
        Assert.Throws<ArgumentException>(() => Kernels.CrossEntropyWithGradient([1f, 2f], 0, new float[1]));
    }

    [Fact]
    public void RelativeL2Difference_MatchesDefinition_AndThrowsForLengthMismatch()
    {
        Assert.Equal(0.5, Kernels.RelativeL2Difference([3f, 0f], [2f, 0f]), 12);
        Assert.Equal(Math.Sqrt(2) / Math.Sqrt(5), Kernels.RelativeL2Difference([2f, 1f], [1f, 2f]), 12);
        Assert.Throws<ArgumentException>(() => Kernels.RelativeL2Difference([1f], [1f, 2f]));
    }
}

using MLNetClassify.Tuning;
using Xunit.Abstractions;

namespace MLNetClassify.Tests.Tuning;

/// <summary>The real ResNet18's last stage (real weights, BN folded) plus a GAP + Gemm head, on small maps.</summary>
public class ResNet18StageTests(ITestOutputHelper output)
{
    private static GradientCheck Check()
    {
        var rng = new Random(5);
        const int classes = 4;
        var w = Enumerable.Range(0, classes * 512).Select(_ => (float)((rng.NextDouble() * 2 - 1) * 0.2)).ToArray();
        var b = new float[classes];
        var model = BackboneTails.ResNet18LastStage(w, b);
        // 6×6 stage-3 maps: the stride-2 3×3 (pads 1,1,0,0) and the 1×1 downsample both leave 3×3, the 1×1 with a remainder row.
        var check = GradientCheck.For(model, [256, 6, 6], batch: 2, seed: 9);
        // Real stage-3 activations: a 6×6 window (rows and columns 4–9) of the 14×14 maps of two generated scenes.
        var maps = BackboneTails.ResNet18Stage3Maps(2);
        int i = 0;
        for (int n = 0; n < 2; n++)
            for (int c = 0; c < 256; c++)
                for (int y = 4; y < 10; y++)
                    for (int x = 4; x < 10; x++)
                        check.X[i++] = maps[((n * 256 + c) * 14 + y) * 14 + x];
        return check;
    }

    [Fact]
    public void LastStage_CutFromTheRealGraph_HasThreeBlocksWithTheDownsample()
    {
        // The CNTK export's 512-channel stage has three BasicBlocks (torchvision's ResNet18 has two): 1×1/2 + 6 3×3.
        var tail = Check().Tail;
        Assert.Equal(7, tail.Nodes.Count(n => n.OpType == "Conv"));
        Assert.Equal(3, tail.Nodes.Count(n => n.OpType == "Add"));
        Assert.Contains(tail.Nodes, n => n.OpType == "Conv" && tail.Shapes[n.Input[1]] is [512, 256, 1, 1]);
        Assert.Equal(new long[] { -1, 512, 3, 3 }, tail.Shapes[BackboneTails.ResNet18Stage4]);
        Assert.Equal(16, tail.Parameters.Count); // 7 folded convolutions' weights and biases, the head's two
    }

    [Fact]
    public void LastStage_GradientsMatchDoubleReferenceAndFiniteDifferences()
    {
        var check = Check();
        var step = check.RunStep();
        double worst = check.AssertMatchesReference(step, check.RunReference(), output);
        output.WriteLine($"worst gradient error against the double reference: {worst:E2}");
        // A smaller ε than the small tails' (1e-2): a weight of the real stage reaches thousands of ReLUs, and a larger
        // step flips one of them for most of the coordinates of largest gradient.
        new StepGraphTests(output).AssertFiniteDifferences(check, step, perParameter: 20, epsilon: 1e-3);
    }
}

using MLNetClassify.Backbones;
using MLNetClassify.Featurization;
using MLNetClassify.Images;

namespace MLNetClassify.Tests.Featurization;

public class FeaturizerPlanTests
{
    [Theory]
    [InlineData(1, 1, 8)]
    [InlineData(2, 2, 8)]    // the two-core machine: as before, two workers with batches of 8
    [InlineData(4, 4, 4)]
    [InlineData(16, 16, 1)]  // many cores: a worker per core, one image each
    [InlineData(64, 17, 1)]  // more cores than the budget has images for: no more workers than images
    public void Workers_ImagesInFlight_StayWithinTheBudget_WhateverTheCoreCount(int cores, int workers, int perCall)
    {
        var plan = FeaturizerPlan.For(new FeaturizerOptions(), cores, 224, batchSize: 8);
        Assert.Equal((FeaturizerStrategy.Workers, workers, perCall, 1), (plan.Strategy, plan.Workers, plan.ImagesPerCall, plan.SessionThreads));
        Assert.True(plan.Workers * plan.ImagesPerCall * FeaturizerPlan.BytesPerImageInFlight(224) <= FeaturizerPlan.InFlightBudgetBytes);
    }

    [Fact]
    public void LargerInputs_FewerImagesInFlight_AndTheBatchSizeIsTheMostPerCall()
    {
        var large = FeaturizerPlan.For(new FeaturizerOptions(), 16, 448, batchSize: 8); // 4× the bytes per image
        Assert.Equal((4, 1), (large.Workers, large.ImagesPerCall));
        var small = FeaturizerPlan.For(new FeaturizerOptions(), 2, 224, batchSize: 2);
        Assert.Equal((2, 2), (small.Workers, small.ImagesPerCall));
    }

    [Fact]
    public void AThreadCountOrCuda_SelectsThePipeline()
    {
        var decode = FeaturizerPlan.For(new FeaturizerOptions { DecodeThreads = 3 }, 16, 224, 8);
        Assert.Equal((FeaturizerStrategy.Pipeline, 3, 8, 16), (decode.Strategy, decode.Workers, decode.ImagesPerCall, decode.SessionThreads));
        var inference = FeaturizerPlan.For(new FeaturizerOptions { InferenceThreads = 2 }, 16, 224, 8);
        Assert.Equal((FeaturizerStrategy.Pipeline, 16, 2), (inference.Strategy, inference.Workers, inference.SessionThreads));
        Assert.Equal(FeaturizerStrategy.Pipeline, FeaturizerPlan.StrategyFor(new FeaturizerOptions { Device = ExecutionDevice.Cuda() }));
    }

    [Fact]
    public void MemoryGate_HoldsASecondRequestPastTheBudget_UntilTheFirstExits_AndLetsALoneLargeOneThrough()
    {
        var gate = new MemoryGate(100);
        gate.Enter(150); // alone: passes though over the budget
        Assert.Equal(150, gate.Held);
        using var entered = new ManualResetEventSlim();
        var second = new Thread(() => { gate.Enter(10); entered.Set(); });
        second.Start();
        Assert.False(entered.Wait(300), "the second request passed while the first held more than the budget");
        gate.Exit(150);
        Assert.True(entered.Wait(30_000));
        second.Join();
        Assert.Equal(10, gate.Held);
        gate.Enter(90); // within the budget beside the 10 held
        Assert.Equal(100, gate.Held);
    }
}

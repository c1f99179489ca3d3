using Google.Protobuf;
using MLNetClassify.Learning;
using MLNetClassify.Tuning;
using Xunit.Abstractions;

namespace MLNetClassify.Tests.Tuning;

public class TailTrainerTests(ITestOutputHelper output)
{
    private const int Channels = 16, Side = 8, Classes = 4;

    /// <summary>conv3×3+BN+ReLU, conv3×3+BN, added to the input, ReLU, GAP, Gemm: a residual tail with random weights.</summary>
    private static TailGraph Tail()
    {
        var m = new TailModels(21);
        const string x = TailModels.Input;
        string branch = m.BatchNorm(m.Conv(m.Relu(m.BatchNorm(m.Conv(x, Channels, Channels, 3, 1, [1, 1, 1, 1], bias: false), Channels)),
            Channels, Channels, 3, 1, [1, 1, 1, 1], bias: false), Channels);
        string logits = m.Gemm(m.Flatten(m.Gap(m.Relu(m.Add(branch, x)))), Channels, Classes);
        return TailGraph.FromModel(BatchNormFolding.Fold(m.Finish(logits, [Channels, Side, Side])), [Channels, Side, Side]);
    }

    /// <summary>Random maps whose label is the group of four channels with the largest mean.</summary>
    private static (float[] X, int[] Labels) Data(int rows, int seed)
    {
        var rng = new Random(seed);
        int per = Channels * Side * Side;
        var x = new float[rows * per];
        var labels = new int[rows];
        for (int r = 0; r < rows; r++)
        {
            // Noise with a lift of 0.3 on the channels of one group, drawn at random: the label is then read back
            // from the input alone, as the group of largest mean.
            int lifted = rng.Next(Classes);
            var sums = new double[Classes];
            for (int i = 0; i < per; i++)
            {
                int group = i / (Side * Side) / (Channels / Classes);
                float v = (float)rng.NextDouble() + (group == lifted ? 0.3f : 0f);
                x[r * per + i] = v;
                sums[group] += v;
            }
            labels[r] = Array.IndexOf(sums, sums.Max());
        }
        return (x, labels);
    }

    [Theory]
    [InlineData(HeadOptimizer.Adam, 1e-2f, 1e-3f)]
    [InlineData(HeadOptimizer.Momentum, 5e-2f, 5e-3f)]
    public void Train_GeneratedData_LossFallsAndAccuracyRises(HeadOptimizer optimizer, float headRate, float convRate)
    {
        var (x, labels) = Data(256, 1);
        using var trainer = new TailTrainer(Tail(), new TailTrainingOptions
        {
            Epochs = 8, BatchSize = 32, Optimizer = optimizer, HeadLearningRate = headRate, ConvLearningRate = convRate, IntraOpThreads = 1,
        });
        var reported = new List<EpochMetrics>();
        var history = trainer.Train(x, labels, new SyncProgress<EpochMetrics>(reported.Add));
        foreach (var e in history) output.WriteLine($"epoch {e.Epoch}: loss {e.TrainLoss:F4}, accuracy {e.TrainAccuracy:P1}");
        Assert.Equal(history, reported);
        Assert.True(history[^1].TrainLoss < 0.7 * history[0].TrainLoss, "the training loss did not fall by 30%");
        Assert.True(history[^1].TrainAccuracy > history[0].TrainAccuracy + 0.2, "the training accuracy did not rise by 20 points");
    }

    [Fact]
    public void InferenceModel_AfterTraining_GivesTheStepGraphsLogits()
    {
        var (x, labels) = Data(64, 2);
        using var trainer = new TailTrainer(Tail(), new TailTrainingOptions { Epochs = 2, HeadLearningRate = 1e-2f, ConvLearningRate = 1e-3f, IntraOpThreads = 1 });
        var before = trainer.Parameters.ToDictionary(p => p.Key, p => (float[])p.Value.Clone());
        trainer.Train(x, labels);
        Assert.Contains(trainer.Parameters, p => !p.Value.SequenceEqual(before[p.Key]));

        var stepLogits = trainer.StepLogits(x, labels);
        var tail = trainer.Tail;
        var logits = OrtRun.Floats(trainer.InferenceModel(), [(tail.InputName, x, [labels.Length, Channels, Side, Side])], tail.OutputName)[tail.OutputName];
        double scale = stepLogits.Max(Math.Abs);
        double worst = stepLogits.Zip(logits, (a, b) => Math.Abs(a - b)).Max();
        Assert.True(worst <= 1e-5 * scale, $"logits differ by {worst:E2} (scale {scale:E2})");
    }

    [Fact]
    public void Train_Cancelled_Throws()
    {
        var (x, labels) = Data(64, 3);
        using var trainer = new TailTrainer(Tail(), new TailTrainingOptions { IntraOpThreads = 1 });
        using var cts = new CancellationTokenSource();
        cts.Cancel();
        Assert.Throws<OperationCanceledException>(() => trainer.Train(x, labels, cancellationToken: cts.Token));
    }

    [Fact]
    public void Train_BadRows_FailWithClearMessages()
    {
        var (x, labels) = Data(8, 4);
        using var trainer = new TailTrainer(Tail(), new TailTrainingOptions { IntraOpThreads = 1 });
        Assert.Contains("labels", Assert.Throws<ArgumentException>(() => trainer.Train(x, labels[..7])).Message);
        Assert.Contains("outside", Assert.Throws<ArgumentException>(() => trainer.Train(x, [.. labels[..7], Classes])).Message);
        x[5] = float.NaN;
        Assert.Contains("NaN", Assert.Throws<ArgumentException>(() => trainer.Train(x, labels)).Message);
    }
}

using MLNetClassify.Data;
using MLNetClassify.Heads;
using MLNetClassify.Learning;
using MLNetClassify.Numerics;

namespace MLNetClassify.Tests.Heads;

public class SoftmaxHeadTrainerTests
{
    /// <summary>
    /// Gaussian blobs around one centre per class; <paramref name="noise"/> sets the overlap. The centres come from
    /// <paramref name="seed"/>; the noise from <paramref name="noiseSeed"/> when given (held-out rows around the same
    /// centres), else from the same stream after the centres.
    /// </summary>
    internal static (FeatureMatrix X, int[] Y) Blobs(int perClass, int classes, int d, double noise, int seed, int? noiseSeed = null)
    {
        var centreRng = new Random(seed);
        var centres = Enumerable.Range(0, classes).Select(_ => Enumerable.Range(0, d).Select(_ => centreRng.NextDouble() * 4).ToArray()).ToArray();
        var rng = noiseSeed is { } n ? new Random(n) : centreRng;
        var values = new List<float>();
        var labels = new List<int>();
        for (int c = 0; c < classes; c++)
            for (int i = 0; i < perClass; i++)
            {
                for (int j = 0; j < d; j++)
                    values.Add((float)(centres[c][j] + noise * Gaussian(rng)));
                labels.Add(c);
            }
        return (new FeatureMatrix(values.ToArray(), labels.Count, d), labels.ToArray());
    }

    private static double Gaussian(Random rng) => Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());

    private static double Accuracy(SoftmaxLayer model, FeatureMatrix x, int[] y) =>
        Enumerable.Range(0, x.Rows).Count(i => System.Numerics.Tensors.TensorPrimitives.IndexOfMax<float>(model.Predict(x.Row(i))) == y[i]) / (double)x.Rows;

    private static double MeanLoss(SoftmaxLayer model, FeatureMatrix x, int[] y, IEnumerable<int> rows)
    {
        var logits = new float[model.Classes];
        var list = rows.ToList();
        double loss = 0;
        foreach (int r in list)
        {
            model.Logits(x.Row(r), logits);
            Kernels.LogSoftmax(logits, logits);
            loss -= logits[y[r]];
        }
        return loss / list.Count;
    }

    [Fact]
    public void Train_SeparableBlobs_ClassifiesHeldOutBlobsAboveFloor()
    {
        var (x, y) = Blobs(60, 4, 16, 0.5, 1);
        var (xt, yt) = Blobs(30, 4, 16, 0.5, 1, noiseSeed: 1001); // same centres, noise from another stream
        var trainRows = Enumerable.Range(0, x.Rows).Select(i => string.Join(",", x.Row(i).ToArray())).ToHashSet();
        Assert.DoesNotContain(Enumerable.Range(0, xt.Rows), i => trainRows.Contains(string.Join(",", xt.Row(i).ToArray())));
        var result = new SoftmaxHeadTrainer(new SoftmaxHeadOptions { Epochs = 50 }).Train(x, y, 4);
        Assert.True(Accuracy(result.Model, x, y) >= 0.98);
        Assert.True(Accuracy(result.Model, xt, yt) >= 0.95);
    }

    [Theory]
    [InlineData(HeadOptimizer.Adam, LearningRateSchedule.Cosine, true)]
    [InlineData(HeadOptimizer.Momentum, LearningRateSchedule.Step, false)]
    [InlineData(HeadOptimizer.Adam, LearningRateSchedule.Constant, true)]
    public void Train_SameSeed_GivesIdenticalWeights(HeadOptimizer optimizer, LearningRateSchedule schedule, bool standardize)
    {
        var (x, y) = Blobs(40, 3, 8, 1.5, 3);
        var options = new SoftmaxHeadOptions { Optimizer = optimizer, Schedule = schedule, Standardize = standardize, Epochs = 30, LearningRate = optimizer == HeadOptimizer.Adam ? 1e-2f : 0.05f, Seed = 9 };
        var a = new SoftmaxHeadTrainer(options).Train(x, y, 3);
        var b = new SoftmaxHeadTrainer(options).Train(x, y, 3);
        Assert.Equal(a.Model.Weights, b.Model.Weights);
        Assert.Equal(a.Model.Bias, b.Model.Bias);
        Assert.True(Accuracy(a.Model, x, y) > 0.8);
        var c = new SoftmaxHeadTrainer(options with { Seed = 10 }).Train(x, y, 3);
        Assert.NotEqual(a.Model.Weights, c.Model.Weights);
    }

    [Fact]
    public void Train_EarlyStopping_RestoresTheBestEpochsWeights()
    {
        // Few noisy rows, many dimensions, a high rate and no L2: validation loss falls, then rises as it overfits.
        var (x, y) = Blobs(30, 3, 64, 4.0, 5);
        var progress = new List<EpochMetrics>();
        var options = new SoftmaxHeadOptions
        {
            Epochs = 200, LearningRate = 0.05f, L2 = 0, ValidationFraction = 0.3f, EarlyStoppingPatience = 5,
            RefitOnAllRows = false,
        };
        var result = new SoftmaxHeadTrainer(options).Train(x, y, 3, new Collect(progress));

        Assert.Equal(result.History, progress);
        Assert.True(result.History.Count < 200, "expected early stopping to end training");
        var best = result.History.MinBy(h => h.ValidationLoss!.Value)!;
        Assert.Equal(best.Epoch, result.BestEpoch);
        Assert.True(result.History[^1].ValidationLoss > best.ValidationLoss, "the last epoch should be worse than the best");
        Assert.Equal(result.BestEpoch + options.EarlyStoppingPatience, result.History.Count);

        // The returned weights score the validation rows exactly as the best epoch did.
        var (_, validation) = Holdout.Split(y, 0.3f, options.Seed);
        Assert.Equal(best.ValidationLoss!.Value, MeanLoss(result.Model, x, y, validation), 1e-4);
    }

    [Fact]
    public void Train_Refit_RunsBestEpochCountOnAllRows()
    {
        var (x, y) = Blobs(30, 3, 8, 1.0, 6);
        var result = new SoftmaxHeadTrainer(new SoftmaxHeadOptions { Epochs = 40, EarlyStoppingPatience = 40 }).Train(x, y, 3);
        Assert.Equal(result.BestEpoch, result.History.Count(h => h.Phase == EpochPhase.Refit));
        Assert.All(result.History.Where(h => h.Phase == EpochPhase.Refit), h => Assert.Null(h.ValidationLoss));
    }

    [Fact]
    public void Train_Standardize_FoldsIntoWeightsForRawFeatures()
    {
        // Features on wildly different scales: standardization must be folded so raw inputs still score right.
        var (x, y) = Blobs(50, 2, 4, 0.3, 8);
        var scaled = x.Values.Select((v, i) => i % 4 == 0 ? v * 1000 + 5000 : v).ToArray();
        var xs = new FeatureMatrix(scaled, x.Rows, 4);
        var result = new SoftmaxHeadTrainer(new SoftmaxHeadOptions { Standardize = true, Epochs = 30, LearningRate = 0.01f }).Train(xs, y, 2);
        Assert.True(Accuracy(result.Model, xs, y) >= 0.98);
    }

    [Fact]
    public void Train_ThrowsForBadInput()
    {
        var (x, y) = Blobs(5, 2, 3, 1, 1);
        var trainer = new SoftmaxHeadTrainer();
        Assert.Throws<ArgumentException>(() => trainer.Train(x, y.Take(3).ToArray(), 2));
        Assert.Throws<ArgumentException>(() => trainer.Train(x, y.Select(v => v + 5).ToArray(), 2));
        Assert.Throws<ArgumentOutOfRangeException>(() => trainer.Train(x, y, 1));
        var nan = (float[])x.Values.Clone();
        nan[3] = float.NaN;
        Assert.Throws<ArgumentException>(() => trainer.Train(new FeatureMatrix(nan, x.Rows, x.Dimensions), y, 2));
        Assert.Throws<ArgumentOutOfRangeException>(() => new SoftmaxHeadTrainer(new SoftmaxHeadOptions { ValidationFraction = 1 }));
    }

    [Fact]
    public void Train_Cancelled_Throws()
    {
        var (x, y) = Blobs(5, 2, 3, 1, 1);
        using var cts = new CancellationTokenSource();
        cts.Cancel();
        Assert.ThrowsAny<OperationCanceledException>(() => new SoftmaxHeadTrainer().Train(x, y, 2, null, cts.Token));
    }

    private sealed class Collect(List<EpochMetrics> list) : IProgress<EpochMetrics>
    {
        public void Report(EpochMetrics value) => list.Add(value);
    }

    [Fact]
    public void Views_RowsMustComeAsEqualBlocksOfTheSameImages()
    {
        var (x, y) = Blobs(10, 3, 4, 0.5, seed: 2);
        var trainer = new SoftmaxHeadTrainer(new SoftmaxHeadOptions { Epochs = 3 });
        Assert.Throws<ArgumentException>(() => trainer.Train(x, y, 3, views: 4)); // 30 rows are not 4 equal blocks
        var doubled = new FeatureMatrix(x.Values.Concat(x.Values).ToArray(), 60, 4);
        var wrong = y.Concat(y.Reverse()).ToArray();
        var e = Assert.Throws<ArgumentException>(() => trainer.Train(doubled, wrong, 3, views: 2));
        Assert.Contains("view 1", e.Message);
        Assert.Equal(3, trainer.Train(doubled, y.Concat(y).ToArray(), 3, views: 2).Model.Classes);
    }

    [Fact]
    public void Views_HoldOutWholeImages_ValidationScoresTheirPlainRowsOnly()
    {
        // View 1 of every image is a copy with its class written in an extra feature: a head that trained on the view of a
        // held-out image would score its plain row no better for it, but one that validated on view rows would see 100 %.
        var (x, y) = Blobs(30, 3, 4, 3.0, seed: 5);
        int n = x.Rows, d = x.Dimensions + 3;
        var values = new float[2 * n * d];
        for (int i = 0; i < n; i++)
        {
            x.Row(i).CopyTo(values.AsSpan(i * d, x.Dimensions));
            x.Row(i).CopyTo(values.AsSpan((n + i) * d, x.Dimensions));
            values[(n + i) * d + x.Dimensions + y[i]] = 100f;
        }
        var rows = new FeatureMatrix(values, 2 * n, d);
        var result = new SoftmaxHeadTrainer(new SoftmaxHeadOptions { Epochs = 30, ValidationFraction = 0.3f, RefitOnAllRows = false })
            .Train(rows, y.Concat(y).ToArray(), 3, views: 2);
        var validation = result.History.Where(h => h.Phase == EpochPhase.Train && h.ValidationAccuracy is not null).Select(h => h.ValidationAccuracy!.Value).ToList();
        Assert.NotEmpty(validation);
        Assert.True(validation.Max() < 0.95, $"validation accuracy reached {validation.Max():F3}: validation saw the marked views");
    }

    [Fact]
    public void LabelSmoothing_MakesTheHeadLessConfident_AndIsChecked()
    {
        var (x, y) = Blobs(40, 3, 6, 0.3, seed: 4);
        double MeanTop(float smoothing)
        {
            var model = new SoftmaxHeadTrainer(new SoftmaxHeadOptions { Epochs = 100, LearningRate = 0.05f, L2 = 0, LabelSmoothing = smoothing, ValidationFraction = 0 })
                .Train(x, y, 3).Model;
            return Enumerable.Range(0, x.Rows).Average(i => model.Predict(x.Row(i)).Max());
        }
        double sharp = MeanTop(0f), smoothed = MeanTop(0.2f);
        Assert.True(sharp > 0.97, $"unsmoothed mean top probability {sharp:F3}");
        // The smoothed target of the true class is 1 − 0.2 + 0.2/3 ≈ 0.867: the head settles near it.
        Assert.InRange(smoothed, 0.80, 0.93);
        Assert.Throws<ArgumentOutOfRangeException>(() => new SoftmaxHeadTrainer(new SoftmaxHeadOptions { LabelSmoothing = 1f }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new SoftmaxHeadTrainer(new SoftmaxHeadOptions { LabelSmoothing = -0.1f }));
    }

    [Fact]
    public void WarmStart_WithANewClass_FitsItFirst_AndMovesTheKnownClassesLess()
    {
        // A head trained on classes 0 and 1, then warm-started on 0, 1 and a new class 2.
        var (x, y) = Blobs(40, 3, 8, 0.5, seed: 6);
        var (xt, yt) = Blobs(30, 3, 8, 0.5, seed: 6, noiseSeed: 606);
        var twoRows = Enumerable.Range(0, x.Rows).Where(i => y[i] < 2).ToArray();
        var options = new SoftmaxHeadOptions { Epochs = 40 };
        var old = new SoftmaxHeadTrainer(options).Train(x.Select(twoRows), twoRows.Select(i => y[i]).ToArray(), 2).Model;
        var start = new SoftmaxLayer([.. old.Weights, .. new float[8]], [.. old.Bias, 0f], 8);

        var history = new List<EpochMetrics>();
        var careful = new SoftmaxHeadTrainer(options).Train(x, y, 3, new Collect(history), initial: start, known: [true, true, false]);
        var plain = new SoftmaxHeadTrainer(options).Train(x, y, 3, initial: start);
        double Moved(SoftmaxLayer m) => Math.Sqrt(Enumerable.Range(0, 16).Sum(i => Math.Pow(m.Weights[i] - start.Weights[i], 2)));

        Assert.Contains(history, e => e.Phase == EpochPhase.NewClasses);
        Assert.Contains(history, e => e.Phase == EpochPhase.RefitNewClasses);
        Assert.True(Moved(careful.Model) < 0.5 * Moved(plain.Model), $"known classes moved {Moved(careful.Model):F4}, without the two phases {Moved(plain.Model):F4}");
        var newRows = Enumerable.Range(0, xt.Rows).Where(i => yt[i] == 2).ToArray();
        double onNew = Accuracy(careful.Model, xt.Select(newRows), newRows.Select(i => yt[i]).ToArray()), onAll = Accuracy(careful.Model, xt, yt);
        Assert.True(onNew >= 0.9 && onAll >= 0.9, $"held-out accuracy on the new class {onNew:F3}, on all {onAll:F3}; without the phases {Accuracy(plain.Model, xt, yt):F3}");
        // Flags need a starting head and one per class.
        Assert.Throws<ArgumentException>(() => new SoftmaxHeadTrainer(options).Train(x, y, 3, known: [true, true, false]));
        Assert.Throws<ArgumentException>(() => new SoftmaxHeadTrainer(options).Train(x, y, 3, initial: start, known: [true, false]));
    }

    [Fact]
    public void WarmStart_ValidatesOnImagesTheStartNeverTrainedOn_WhenEveryClassHasThem()
    {
        // The even images carry their class in an extra feature, and the starting head learnt it: validating on them
        // would make the start look right on every one. Told which images it trained on, the trainer validates on the others.
        var (x, y) = Blobs(40, 3, 4, 3.0, seed: 9);
        int n = x.Rows, d = x.Dimensions + 3;
        var values = new float[n * d];
        for (int i = 0; i < n; i++)
        {
            x.Row(i).CopyTo(values.AsSpan(i * d, x.Dimensions));
            if (i % 2 == 0) values[i * d + x.Dimensions + y[i]] = 100f;
        }
        var rows = new FeatureMatrix(values, n, d);
        var seen = Enumerable.Range(0, n).Select(i => i % 2 == 0).ToArray();
        var start = new SoftmaxHeadTrainer(new SoftmaxHeadOptions { Epochs = 30 }).Train(rows, y, 3).Model;
        var options = new SoftmaxHeadOptions { Epochs = 3, ValidationFraction = 0.2f, RefitOnAllRows = false, LearningRate = 1e-6f };
        double BestValidation(SoftmaxHeadResult r) => r.History.Max(h => h.ValidationAccuracy!.Value);
        double clean = BestValidation(new SoftmaxHeadTrainer(options).Train(rows, y, 3, initial: start, seen: seen));
        double mixed = BestValidation(new SoftmaxHeadTrainer(options).Train(rows, y, 3, initial: start));
        // Unseen images of one class only: not enough to stand for all classes, so the usual hold-out is kept.
        var oneClassUnseen = Enumerable.Range(0, n).Select(i => y[i] != 2 || i % 2 == 0).ToArray();
        double fallback = BestValidation(new SoftmaxHeadTrainer(options).Train(rows, y, 3, initial: start, seen: oneClassUnseen));
        Assert.True(mixed > clean + 0.15, $"validation accuracy with the seen images held out {clean:F3}, without {mixed:F3}");
        Assert.Equal(mixed, fallback);
    }
}

using System.Diagnostics;
using Microsoft.ML;
using MLNetClassify.Data;
using MLNetClassify.Featurization;
using MLNetClassify.Training;

namespace MLNetClassify.Benchmarks;

/// <summary>
/// Warm-start retraining on a shared split: (A) a model that never saw one class, retrained with it, against a fresh
/// training; (B) a model trained on half the training rows, retrained with all of them, against a fresh training.
/// Features are cached under WORK/cache, so times compare training from cached features.
/// </summary>
internal static class RetrainLab
{
    private sealed class Scored
    {
        public string PredictedLabelValue { get; set; } = "";
    }

    public static int Run(string dataRoot, string set, string work, string[] variants)
    {
        var split = DataSplit.ReadFile(Path.Combine(dataRoot, "splits", set + ".tsv"), Path.Combine(dataRoot, set));
        var options = new ImageClassifierOptions { Featurizer = new FeaturizerOptions { CacheDirectory = Path.Combine(work, "cache") } };
        var heldOut = split.Train.Select(i => i.Label).Distinct().Order(StringComparer.Ordinal).Last();
        Console.WriteLine($"# {set}: {split.Train.Count} training / {split.Test.Count} test images; class left out of the old model: {heldOut}");

        var (fresh, freshSeconds) = Timed(() => ClassifierWorkflow.Train(new MLContext(1), split, options));
        (fresh, freshSeconds) = Timed(() => ClassifierWorkflow.Train(new MLContext(1), split, options)); // features cached now
        var freshAcc = PerClass(fresh.Model, split.Test);

        // (A) a new class
        var without = new DataSplit(split.Train.Where(i => i.Label != heldOut).ToList(), split.Test.Where(i => i.Label != heldOut).ToList());
        var oldA = Save(ClassifierWorkflow.Train(new MLContext(1), without, options), work, "old-a.zip");
        var oldAcc = PerClass(oldA.Model, without.Test);
        var (newA, newASeconds) = Timed(() => ClassifierWorkflow.Retrain(new MLContext(1), oldA.Path, split, options));
        var newAcc = PerClass(newA.Model, split.Test);
        foreach (var v in variants)
        {
            // "lr=0.0003", "patience=20", "l2=0.03": the retrain's head options only.
            var kv = v.Split('=');
            var head = kv[0] switch
            {
                "lr" => options.Head with { LearningRate = float.Parse(kv[1]) },
                "patience" => options.Head with { EarlyStoppingPatience = int.Parse(kv[1]) },
                "l2" => options.Head with { L2 = float.Parse(kv[1]) },
                _ => throw new ArgumentException(v),
            };
            var (alt, altSeconds) = Timed(() => ClassifierWorkflow.Retrain(new MLContext(1), oldA.Path, split, options with { Head = head }));
            var altAcc = PerClass(alt.Model, split.Test);
            Console.WriteLine($"variant {v}: new class {altAcc.Of(heldOut):F3}, old classes {altAcc.Old(heldOut):F3}, all {alt.Test!.Accuracy:F3}, epochs {alt.BestEpoch}, {altSeconds:F1} s");
        }
        Console.WriteLine("| model | accuracy on the new class | on the old classes | all test | epochs (best) | s from cached features |");
        Console.WriteLine("|---|---|---|---|---|---|");
        Console.WriteLine($"| old (without {heldOut}) | – | {oldAcc.Old(heldOut):F3} | – | {oldA.Result.BestEpoch} | – |");
        Console.WriteLine($"| retrained with {heldOut} | {newAcc.Of(heldOut):F3} | {newAcc.Old(heldOut):F3} | {newA.Test!.Accuracy:F3} | {newA.BestEpoch} | {newASeconds:F1} |");
        Console.WriteLine($"| fresh, all classes | {freshAcc.Of(heldOut):F3} | {freshAcc.Old(heldOut):F3} | {fresh.Test!.Accuracy:F3} | {fresh.BestEpoch} | {freshSeconds:F1} |");

        // (B) half, then all training rows
        var half = DataSplit.Stratified(split.Train, 0.5, 5);
        var oldB = Save(ClassifierWorkflow.Train(new MLContext(1), new DataSplit(half.Train, split.Test), options), work, "old-b.zip");
        var (newB, newBSeconds) = Timed(() => ClassifierWorkflow.Retrain(new MLContext(1), oldB.Path, split, options));
        Console.WriteLine();
        Console.WriteLine("| model | test accuracy | test log-loss | epochs (best) | s from cached features |");
        Console.WriteLine("|---|---|---|---|---|");
        Console.WriteLine($"| half of the training rows | {oldB.Result.Test!.Accuracy:F3} | {oldB.Result.Test.LogLoss:F3} | {oldB.Result.BestEpoch} | – |");
        Console.WriteLine($"| retrained with all rows | {newB.Test!.Accuracy:F3} | {newB.Test.LogLoss:F3} | {newB.BestEpoch} | {newBSeconds:F1} |");
        Console.WriteLine($"| fresh on all rows | {fresh.Test.Accuracy:F3} | {fresh.Test.LogLoss:F3} | {fresh.BestEpoch} | {freshSeconds:F1} |");
        return 0;
    }

    private static (T, double) Timed<T>(Func<T> run)
    {
        var clock = Stopwatch.StartNew();
        var result = run();
        return (result, clock.Elapsed.TotalSeconds);
    }

    private static (Learning.TrainingResult<ITransformer> Result, string Path, ITransformer Model) Save(Learning.TrainingResult<ITransformer> trained, string work, string name)
    {
        var path = Path.Combine(work, name);
        Persistence.ModelFiles.Save(new MLContext(1), trained.Model, trained.InputSchema!, path);
        return (trained, path, trained.Model);
    }

    private sealed record Accuracy(Dictionary<string, (int Hit, int All)> ByClass)
    {
        public double Of(string label) => ByClass.TryGetValue(label, out var c) ? (double)c.Hit / c.All : double.NaN;
        public double Old(string left) => (double)ByClass.Where(p => p.Key != left).Sum(p => p.Value.Hit) / ByClass.Where(p => p.Key != left).Sum(p => p.Value.All);
    }

    private static Accuracy PerClass(ITransformer model, IReadOnlyList<LabeledImage> test)
    {
        var ml = new MLContext(1);
        using var engine = ml.Model.CreatePredictionEngine<LabeledImage, Scored>(model);
        var byClass = new Dictionary<string, (int, int)>();
        foreach (var image in test)
        {
            var (hit, all) = byClass.GetValueOrDefault(image.Label);
            byClass[image.Label] = (hit + (engine.Predict(image).PredictedLabelValue == image.Label ? 1 : 0), all + 1);
        }
        return new Accuracy(byClass);
    }
}

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
        if (variants.Contains("valid"))
        {
            // Choosing: the training rows only, a quarter of them (stratified) standing in for the test rows.
            split = DataSplit.Stratified(split.Train, 0.25, 7);
            variants = variants.Where(v => v != "valid").ToArray();
            Console.WriteLine("# validation mode: 75 % of the training rows train, 25 % score; no test row is read");
        }
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
            // "lr=0.0003", "patience=20", "l2=0.03", "knownrate=0.3", "shrink=0.7", comma-joined: the retrain's head options only.
            var head = options.Head;
            foreach (var kv in v.Split(',').Select(part => part.Split('=')))
                head = kv[0] switch
                {
                    "knownrate" => head with { KnownClassRate = float.Parse(kv[1]) },
                    "shrink" => head with { WarmStartShrink = float.Parse(kv[1]) },
                    "lr" => head with { LearningRate = float.Parse(kv[1]) },
                    "patience" => head with { EarlyStoppingPatience = int.Parse(kv[1]) },
                    "l2" => head with { L2 = float.Parse(kv[1]) },
                    _ => throw new ArgumentException(v),
                };
            var (alt, altSeconds) = Timed(() => ClassifierWorkflow.Retrain(new MLContext(1), oldA.Path, split, options with { Head = head }));
            var altAcc = PerClass(alt.Model, split.Test);
            var (altB, altBSeconds) = Timed(() => ClassifierWorkflow.Retrain(new MLContext(1), OldB(split, options, work).Path, split, options with { Head = head }));
            Console.WriteLine($"variant {v}: half→all {altB.Test!.Accuracy:F3} / {altB.Test.LogLoss:F3}, epochs {altB.BestEpoch}, {altBSeconds:F1} s");
            Console.WriteLine($"variant {v}: new class {altAcc.Of(heldOut):F3}, old classes {altAcc.Old(heldOut):F3}, all {alt.Test!.Accuracy:F3}, epochs {alt.BestEpoch}, {altSeconds:F1} s");
        }
        Console.WriteLine("| model | accuracy on the new class | on the old classes | all test | epochs (best) | s from cached features |");
        Console.WriteLine("|---|---|---|---|---|---|");
        Console.WriteLine($"| old (without {heldOut}) | – | {oldAcc.Old(heldOut):F3} | – | {oldA.Result.BestEpoch} | – |");
        Console.WriteLine($"| retrained with {heldOut} | {newAcc.Of(heldOut):F3} | {newAcc.Old(heldOut):F3} | {newA.Test!.Accuracy:F3} | {newA.BestEpoch} | {newASeconds:F1} |");
        Console.WriteLine($"| fresh, all classes | {freshAcc.Of(heldOut):F3} | {freshAcc.Old(heldOut):F3} | {fresh.Test!.Accuracy:F3} | {fresh.BestEpoch} | {freshSeconds:F1} |");

        // (B) half, then all training rows
        var oldB = OldB(split, options, work);
        var (newB, newBSeconds) = Timed(() => ClassifierWorkflow.Retrain(new MLContext(1), oldB.Path, split, options));
        if (Environment.GetEnvironmentVariable("RETRAINLAB_CURVES") is not null)
        {
            Console.WriteLine("retrain B: " + string.Join(" ", newB.Epochs.Where(e => e.Phase == MLNetClassify.Learning.EpochPhase.Train).Take(15).Select(e => $"{e.ValidationLoss:F3}")));
            Console.WriteLine("fresh:     " + string.Join(" ", fresh.Epochs.Where(e => e.Phase == MLNetClassify.Learning.EpochPhase.Train).Take(15).Select(e => $"{e.ValidationLoss:F3}")));
        }
        Console.WriteLine();
        Console.WriteLine("| model | test accuracy | test log-loss | epochs (best) | s from cached features |");
        Console.WriteLine("|---|---|---|---|---|");
        Console.WriteLine($"| half of the training rows | {oldB.Result.Test!.Accuracy:F3} | {oldB.Result.Test.LogLoss:F3} | {oldB.Result.BestEpoch} | – |");
        Console.WriteLine($"| retrained with all rows | {newB.Test!.Accuracy:F3} | {newB.Test.LogLoss:F3} | {newB.BestEpoch} | {newBSeconds:F1} |");
        Console.WriteLine($"| fresh on all rows | {fresh.Test.Accuracy:F3} | {fresh.Test.LogLoss:F3} | {fresh.BestEpoch} | {freshSeconds:F1} |");
        return 0;
    }

    private static (Learning.TrainingResult<ITransformer> Result, string Path, ITransformer Model)? _oldB;

    private static (Learning.TrainingResult<ITransformer> Result, string Path, ITransformer Model) OldB(DataSplit split, ImageClassifierOptions options, string work)
    {
        var half = DataSplit.Stratified(split.Train, 0.5, 5);
        return _oldB ??= Save(ClassifierWorkflow.Train(new MLContext(1), new DataSplit(half.Train, split.Test), options), work, "old-b.zip");
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
        Models.ModelFiles.Save(new MLContext(1), trained.Model, trained.InputSchema!, path, trainedImages: trained.TrainedImages);
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

/// <summary>Where a retrain's seconds go, against a fresh training, from cached features: ... -- retraintime DATA_ROOT SET WORK</summary>
internal static class RetrainTime
{
    public static int Run(string dataRoot, string set, string work)
    {
        var split = DataSplit.ReadFile(Path.Combine(dataRoot, "splits", set + ".tsv"), Path.Combine(dataRoot, set));
        var options = new ImageClassifierOptions { Featurizer = new FeaturizerOptions { CacheDirectory = Path.Combine(work, "cache") } };
        var first = ClassifierWorkflow.Train(new MLContext(1), split, options);
        var zip = Path.Combine(work, "time-old.zip");
        Models.ModelFiles.Save(new MLContext(1), first.Model, first.InputSchema!, zip, trainedImages: first.TrainedImages);
        for (int round = 0; round < 2; round++)
        {
            var s = Stopwatch.StartNew();
            var loaded = Models.ModelFiles.Load(new MLContext(1), zip);
            (loaded as IDisposable)?.Dispose();
            Console.Write($"ML.NET load {s.Elapsed.TotalSeconds:F2} s; ");
            s.Restart();
            Models.ModelFiles.ReadFeaturizerGraph(zip);
            Console.Write($"graph read {s.Elapsed.TotalSeconds:F2} s; ");
            s.Restart();
            Models.ModelFiles.ReadTrainedImages(zip);
            Console.Write($"list read {s.Elapsed.TotalSeconds:F2} s; ");
            s.Restart();
            foreach (var image in split.Train) Models.ModelFiles.TrainedImageKey(image.ImagePath);
            Console.Write($"hashing {split.Train.Count} images {s.Elapsed.TotalSeconds:F2} s; ");
            s.Restart();
            var old = ClassifierWorkflow.ReadForRetraining(new MLContext(1), zip);
            Console.Write($"ReadForRetraining {s.Elapsed.TotalSeconds:F2} s; ");
            s.Restart();
            ClassifierWorkflow.Retrain(new MLContext(1), zip, split, options);
            Console.Write($"Retrain {s.Elapsed.TotalSeconds:F2} s; ");
            s.Restart();
            ClassifierWorkflow.Train(new MLContext(1), split, options);
            Console.WriteLine($"Train {s.Elapsed.TotalSeconds:F2} s");
        }
        return 0;
    }
}

/// <summary>
/// Retraining with more images (half → all training rows), over several halves: with or without the list of images the
/// old head trained on (clean or mixed validation), with or without shrinking the start. ... -- retrainb DATA_ROOT SET WORK [valid]
/// </summary>
internal static class RetrainB
{
    public static int Run(string dataRoot, string set, string work, bool valid)
    {
        var split = DataSplit.ReadFile(Path.Combine(dataRoot, "splits", set + ".tsv"), Path.Combine(dataRoot, set));
        if (valid) split = DataSplit.Stratified(split.Train, 0.25, 7);
        var options = new ImageClassifierOptions { Featurizer = new FeaturizerOptions { CacheDirectory = Path.Combine(work, "cache") } };
        var fresh = ClassifierWorkflow.Train(new MLContext(1), split, options);
        Console.WriteLine($"# {set}{(valid ? " (validation mode)" : "")}: fresh {fresh.Test!.Accuracy:F3} / {fresh.Test.LogLoss:F3}");
        var sums = new Dictionary<string, (double Acc, double Loss)>();
        for (ulong seed = 1; seed <= 5; seed++)
        {
            var half = DataSplit.Stratified(split.Train, 0.5, seed);
            var old = ClassifierWorkflow.Train(new MLContext(1), new DataSplit(half.Train, []), options);
            string listed = Path.Combine(work, "b-listed.zip"), bare = Path.Combine(work, "b-bare.zip");
            Models.ModelFiles.Save(new MLContext(1), old.Model, old.InputSchema!, listed, trainedImages: old.TrainedImages);
            Models.ModelFiles.Save(new MLContext(1), old.Model, old.InputSchema!, bare);
            var line = new List<string>();
            foreach (var (name, zip, shrink) in new[] { ("mixed", bare, 1f), ("mixed+shrink", bare, 0.5f), ("clean", listed, 1f), ("clean+shrink", listed, 0.5f) })
            {
                var r = ClassifierWorkflow.Retrain(new MLContext(1), zip, split, options with { Head = options.Head with { WarmStartShrink = shrink } });
                var (a, l) = sums.GetValueOrDefault(name);
                sums[name] = (a + r.Test!.Accuracy - fresh.Test.Accuracy, l + r.Test.LogLoss - fresh.Test.LogLoss);
                line.Add($"{name} {r.Test.Accuracy:F3}/{r.Test.LogLoss:F3} (ep {r.BestEpoch})");
            }
            Console.WriteLine($"half seed {seed}: " + string.Join("; ", line));
        }
        foreach (var (name, (a, l)) in sums)
            Console.WriteLine($"mean against fresh, {name}: accuracy {a / 5 * 100:+0.00;-0.00} points, log-loss {l / 5:+0.000;-0.000}");
        return 0;
    }
}

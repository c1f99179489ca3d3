using System.Diagnostics;
using System.Globalization;
using Microsoft.ML;
using MLNetClassify.Backbones;
using MLNetClassify.Data;
using MLNetClassify.Featurization;
using MLNetClassify.Heads;
using MLNetClassify.Images;
using MLNetClassify.Learning;
using MLNetClassify.Training;
using MLNetClassify.Tuning;

namespace MLNetClassify.Benchmarks;

/// <summary>
/// Head-only training (the library's default, <see cref="ClassifierWorkflow.Train"/>) against fine-tuning ResNet18's last
/// stage (<see cref="StageFineTuner"/>) on a shared split: validation and test accuracy and log-loss, wall time
/// (featurizing and training apart), peak working set. Caches under $TMPDIR/mlnc-finetunelab (the first run featurizes).
/// ... -- finetunelab SET [EPOCHS=4] [valid] [conv=X] [head=X] [views=N] [wd=X] [patience=N] [batch=N] [sgd] [crops [croponly]]
/// "crops": each epoch e also trains on a fresh random resized crop (featurizer view 1 + e), featurized then and dropped after; "croponly": that crop alone, not the cached views.
/// With "valid" the test rows are never read: a quarter of the training rows (stratified, seed 7) stands in for them.
/// </summary>
internal static class FineTuneLab
{
    public static int Run(string set, string[] args)
    {
        string dataRoot = Environment.GetEnvironmentVariable("MLNC_DATA") ?? Path.GetFullPath(Path.Combine("..", "shared", "data"));
        var split = DataSplit.ReadFile(Path.Combine(dataRoot, "splits", set + ".tsv"), Path.Combine(dataRoot, set));
        int epochs = args.Length > 0 && int.TryParse(args[0], out var e) ? e : 4;
        var options = new StageFineTuningOptions();
        var training = options.Training with { Epochs = epochs };
        int views = 1;
        foreach (var kv in args.Where(a => a.Contains('=')).Select(a => a.Split('=')))
        {
            float F() => float.Parse(kv[1], CultureInfo.InvariantCulture);
            switch (kv[0])
            {
                case "conv": training = training with { ConvLearningRate = F() }; break;
                case "head": training = training with { HeadLearningRate = F() }; break;
                case "wd": training = training with { WeightDecay = F() }; break;
                case "mixup": training = training with { Mixup = F() }; break;
                case "batch": training = training with { BatchSize = int.Parse(kv[1]) }; break;
                case "arena": training = training with { MemoryArena = kv[1] == "1" }; break;
                case "views": views = int.Parse(kv[1]); break;
                case "patience": options = options with { EarlyStoppingPatience = int.Parse(kv[1]) }; break;
                default: throw new ArgumentException($"unknown option {kv[0]}");
            }
        }
        if (args.Contains("croponly")) options = options with { EpochViewOnly = true };
        if (args.Contains("sgd")) training = training with { Optimizer = HeadOptimizer.Momentum };
        options = options with { Training = training };
        if (args.Contains("valid"))
        {
            split = DataSplit.Stratified(split.Train, 0.25, 7);
            Console.WriteLine("# validation mode: 75 % of the training rows train, 25 % score; no test row is read");
        }
        string work = Path.Combine(Path.GetTempPath(), "mlnc-finetunelab");
        var featurizerOptions = new FeaturizerOptions { CacheDirectory = Path.Combine(work, "cache") };
        Console.WriteLine($"CPU: {TuningLab.CpuName()} ({Environment.ProcessorCount} logical cores); {set}: {split.Train.Count} training / {split.Test.Count} test images");
        Console.WriteLine($"fine-tune: {epochs} epochs at most, {views} augmented view(s){(args.Contains("crops") ? options.EpochViewOnly ? ", trained on a fresh crop per epoch alone" : " + a fresh crop per epoch" : "")}, conv rate {training.ConvLearningRate}, head rate {training.HeadLearningRate}, " +
            $"weight decay {training.WeightDecay}, batch {training.BatchSize}, mixup {training.Mixup}, {training.Optimizer}, patience {options.EarlyStoppingPatience}, {options.Schedule}");

        // Head only: the default training (its features cached by an earlier run count as featurizing time here).
        var clock = Stopwatch.StartNew();
        var headOnly = ClassifierWorkflow.Train(new MLContext(1), split, new ImageClassifierOptions { Featurizer = featurizerOptions });
        double headOnlySeconds = clock.Elapsed.TotalSeconds;
        var headOnlyBest = headOnly.Epochs.Where(x => x.Phase == EpochPhase.Train && x.ValidationLoss is not null).MinBy(x => x.ValidationLoss!.Value);
        long peakHeadOnly = PeakBytes();
        Console.WriteLine($"head only: test accuracy {headOnly.Test!.Accuracy:F4}, log-loss {headOnly.Test.LogLoss:F4}; its own validation (10 % of training) loss {headOnlyBest?.ValidationLoss:F4}, accuracy {headOnlyBest?.ValidationAccuracy:F4}; {headOnlySeconds:F0} s; peak {peakHeadOnly / 1048576.0:F0} MiB");

        // Fine-tuned.
        var ml = new MLContext(1);
        var graph = FeaturizerGraph.Build(BackboneCatalog.ResNet18);
        var tuner = StageFineTuner.ResNet18(graph);
        var classes = split.Train.Select(i => i.Label).Distinct().Order(StringComparer.Ordinal).ToList();
        clock.Restart();
        var maps = tuner.Featurize(ml, BackboneCatalog.ResNet18, split.Train.Select(i => ImageSource.FromFile(i.ImagePath)).ToList(), views, 1, featurizerOptions);
        double featurizeSeconds = clock.Elapsed.TotalSeconds;
        Console.WriteLine($"stage-3 maps: {maps.Images} images × {maps.Views} views, {maps.Bytes / 1048576.0:F0} MiB as float16, {maps.CacheHits} from the cache; {featurizeSeconds:F0} s");
        var labels = maps.SourceIndices.Select(i => classes.IndexOf(split.Train[i].Label)).ToArray();
        clock.Restart();
        double headSeconds = 0;
        var progress = new SyncProgress<StageEpochProgress>(p => Console.WriteLine(
            $"  epoch {p.Metrics.Epoch}: train loss {p.Metrics.TrainLoss:F4} acc {p.Metrics.TrainAccuracy:F4}; validation loss {p.Metrics.ValidationLoss:F4} acc {p.Metrics.ValidationAccuracy:F4}{(p.Metrics.IsBest ? " *" : "")}; {p.Elapsed.TotalSeconds:F0} s, ~{p.Left.TotalSeconds:F0} s left"));
        var sources = maps.SourceIndices.Select(i => ImageSource.FromFile(split.Train[i].ImagePath)).ToList();
        Func<int, CancellationToken, StageMaps>? epochView = !args.Contains("crops") ? null : (epoch, token) =>
        {
            var watch = Stopwatch.StartNew();
            var view = tuner.FeaturizeView(ml, BackboneCatalog.ResNet18, sources, 1 + epoch, 1, featurizerOptions, token);
            Console.WriteLine($"  epoch {epoch}: crop view {1 + epoch} featurized in {watch.Elapsed.TotalSeconds:F0} s ({view.CacheHits} from the cache); working set {Environment.WorkingSet / 1048576.0:F0} MiB");
            return view;
        };
        var result = tuner.Tune(maps, labels, (features, rowLabels, v) =>
        {
            var watch = Stopwatch.StartNew();
            var head = new SoftmaxHeadTrainer().Train(features, rowLabels, classes.Count, views: v).Model;
            headSeconds = watch.Elapsed.TotalSeconds;
            Console.WriteLine($"  starting head trained on pooled stage-4 features of {features.Rows} rows in {headSeconds:F1} s");
            return head;
        }, options, progress, epochView: epochView);
        double tuneSeconds = clock.Elapsed.TotalSeconds;
        var start = result.History[0].Metrics;
        var best = result.History.First(h => h.Metrics.Epoch == result.BestEpoch).Metrics;
        long peakTuned = PeakBytes();

        // Test: the saved model's way, through the featurizer graph with the tuned stage.
        clock.Restart();
        using var featurizer = new ImageFeaturizer(ml, BackboneCatalog.ResNet18, tuner.FeaturizerWith(result), new FeaturizerOptions());
        var test = featurizer.Featurize(split.Test.Select(i => i.ImagePath).ToList());
        double correct = 0, logLoss = 0;
        for (int r = 0; r < test.Features.Rows; r++)
        {
            var p = result.Head.Predict(test.Features.Row(r));
            int label = classes.IndexOf(split.Test[test.SourceIndices[r]].Label);
            if (System.Numerics.Tensors.TensorPrimitives.IndexOfMax(p) == label) correct++;
            logLoss -= Math.Log(Math.Max(p[label], 1e-15));
        }
        double testSeconds = clock.Elapsed.TotalSeconds;
        int n = test.Features.Rows;
        Console.WriteLine($"fine-tuned: best epoch {result.BestEpoch}; test accuracy {correct / n:F4}, log-loss {logLoss / n:F4} ({n} images, {testSeconds:F0} s)");
        Console.WriteLine();
        Console.WriteLine("| model | validation loss / acc (fine-tune's 10 %) | test accuracy | test log-loss | featurize s | train s | peak MiB |");
        Console.WriteLine("|---|---|---|---|---|---|---|");
        Console.WriteLine($"| head only (default train) | {start.ValidationLoss:F4} / {start.ValidationAccuracy:F4} (head on the other 90 %) | {headOnly.Test.Accuracy:F4} | {headOnly.Test.LogLoss:F4} | {headOnlySeconds:F0} (all) | – | {peakHeadOnly / 1048576.0:F0} |");
        Console.WriteLine($"| fine-tuned (epoch {result.BestEpoch}) | {best.ValidationLoss:F4} / {best.ValidationAccuracy:F4} | {correct / n:F4} | {logLoss / n:F4} | {featurizeSeconds:F0} | {tuneSeconds:F0} (head {headSeconds:F0}) | {peakTuned / 1048576.0:F0} |");
        return 0;
    }

    private static long PeakBytes()
    {
        using var process = Process.GetCurrentProcess();
        process.Refresh();
        return process.PeakWorkingSet64;
    }
}

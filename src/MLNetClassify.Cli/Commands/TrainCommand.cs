using System.CommandLine;
using System.Diagnostics;
using Microsoft.ML;
using MLNetClassify.Backbones;
using MLNetClassify.Data;
using MLNetClassify.Featurization;
using MLNetClassify.Heads;
using MLNetClassify.Models;
using MLNetClassify.Training;

namespace MLNetClassify.Cli.Commands;

/// <summary><c>train</c>: folder (and optional split) → model zip, with test metrics.</summary>
internal static partial class TrainCommand
{
    /// <summary>What <c>train</c> was asked to do.</summary>
    internal sealed record Settings
    {
        public required string Data { get; init; }
        public required string Model { get; init; }
        public string? Split { get; init; }
        public double TestFraction { get; init; } = 0.2;
        public int Seed { get; init; } = 1;
        public int? Epochs { get; init; }
        public bool Json { get; init; }
        public ExecutionDevice Device { get; init; }
        public bool RequireDevice { get; init; }
        public bool Tf32 { get; init; }
        public int? InputSize { get; init; }
        public WeightStorage Weights { get; init; } = WeightStorage.Float16;
        public string? Cache { get; init; }
        public string Backbone { get; init; } = "resnet18";
        public string? FeatureNode { get; init; }
        public ComputePrecision Precision { get; init; } = ComputePrecision.Float32;
        public bool AllowEmptyClasses { get; init; }
        public bool AllowOutsidePaths { get; init; }
        public string? Report { get; init; }
        /// <summary>The pooling asked for; null: the default (a transformer's chosen on validation rows, else the average).</summary>
        public FeaturePooling? Features { get; init; }
        public int Augment { get; init; } = ImageClassifierOptions.DefaultAugmentedViews;
        public int Tta { get; init; } = 1;
        public float LabelSmoothing { get; init; }

        /// <summary>Backbone stages to fine-tune with the head (<c>train --fine-tune [N]</c>); 0: the head alone.</summary>
        public int FineTune { get; init; }

        /// <summary>The saved model to retrain (<c>retrain --model</c>); null for a fresh training.</summary>
        public string? From { get; init; }
    }

    /// <summary>The JSON line of <c>train --json</c>.</summary>
    internal sealed record Summary(
        double? Accuracy, double? MacroAccuracy, double? LogLoss, int TrainImages, int TestImages, int SkippedImages, IReadOnlyList<string> Classes,
        double FeaturizeImagesPerS, int CacheHits, string Device, int InputSize, string Backbone, string Weights, string Precision, int BestEpoch,
        double Seconds, string Model) : Reports.ReportKeys;

    public static Command Create()
    {
        var shared = new SharedOptions();
        var model = CommonOptions.Model("Where to write the model zip (written atomically).");
        var inputSize = CommonOptions.InputSize(
            "Side S of the S×S images fed to the backbone (default: the backbone's own, 224 for ResNet18; 64 and up works for it, as it runs fully convolutionally and pools globally).");
        var backbone = BackbonesCommand.BackboneOption();
        var featureNode = BackbonesCommand.FeatureNodeOption();
        var weights = CommonOptions.Weights(
            "How the saved model stores the backbone's weights: Float16 halves the zip (arithmetic stays float32), Float32 keeps them bit for bit.");
        var precision = CommonOptions.Precision();
        var report = CommonOptions.Report();
        var features = new Option<FeaturePooling?>("--features")
        {
            Description = "Average: the global average of the backbone's last feature map (the default; for a vision transformer the mean of its patch tokens). "
                + "Rich: and the average of the mid-level map, from the same pass (ResNet18: 768 values instead of 512). TwoScales: the averages at the input size "
                + "and at twice it (about 5× the backbone's time). ClassToken: a vision transformer's class token. Unset, a transformer with a class token is trained "
                + "on both its class token and its patch tokens' mean and keeps what validation rows prefer (a second backbone pass). docs/accuracy.md has what "
                + "each gained on validation folds and on test.",
        };
        var labelSmoothing = new Option<float>("--label-smoothing")
        {
            Description = "Train the head towards 1 − ε on the true class and ε spread over all classes (default 0: it lost on validation folds, docs/accuracy.md).",
        };
        var command = new Command("train", "Train a classifier on a folder of images (one sub-folder per label) and save it as an ML.NET model zip.")
        {
            model, backbone, featureNode, inputSize, features, labelSmoothing, weights, precision, report,
        };
        foreach (var option in shared.All) command.Options.Add(option);
        Verb.SetAction(command, (result, token) => Run(shared.Read(result, result.GetValue(model)!) with
        {
            Report = result.GetValue(report),
            InputSize = result.GetValue(inputSize),
            Weights = result.GetValue(weights),
            Backbone = result.GetValue(backbone)!,
            FeatureNode = result.GetValue(featureNode),
            Precision = result.GetValue(precision),
            Features = result.GetValue(features),
            LabelSmoothing = result.GetValue(labelSmoothing),
        }, token));
        return command;
    }

    /// <summary><c>retrain</c>: a saved model plus (more) images → a new model zip, warm-started from the old head.</summary>
    public static Command CreateRetrain()
    {
        var shared = new SharedOptions();
        var from = CommonOptions.Model("The saved model zip to start from: its featurizer graph (backbone, size, pooling, weights) is kept, its head is the start.");
        var output = new Option<string>("--out") { Description = "Where to write the new model zip (written atomically).", Required = true };
        var command = new Command("retrain",
            "Retrain a saved model with more images and possibly new classes: features cached for its graph are reused, the head starts from the "
            + "saved weights (new classes from zero) and early stopping decides as in train. Classes the new images lack are left out, with a warning.")
        {
            from, output,
        };
        foreach (var option in shared.All) command.Options.Add(option);
        Verb.SetAction(command, (result, token) => Run(shared.Read(result, result.GetValue(output)!) with { From = result.GetValue(from)! }, token));
        return command;
    }

    private static (string Weights, string Precision) OldRecordValues(string modelPath)
    {
        try
        {
            if (ModelFiles.ReadTrainingRecord(modelPath) is { } json)
            {
                var root = System.Text.Json.JsonDocument.Parse(json).RootElement;
                string Read(string key) => root.TryGetProperty(key, out var v) && v.ValueKind == System.Text.Json.JsonValueKind.String ? v.GetString()! : "unknown";
                return (Read("weights"), Read("precision"));
            }
        }
        catch (System.Text.Json.JsonException)
        {
        }
        return ("unknown", "unknown");
    }

    internal static int Run(Settings args, CancellationToken token)
    {
        var clock = Stopwatch.StartNew();
        var mlContext = new MLContext(args.Seed);
        // The destination is checked before the (long) featurizing, not after it; a killed run's leftovers are removed.
        if (AtomicFile.PrepareDestination(args.Model) is > 0 and var removed)
            Output.Step($"removed {removed} temporary file(s) an interrupted run left beside {args.Model}");
        var device = CommonOptions.UseDevice(mlContext, args.Device, args.RequireDevice);
        var split = CommonOptions.LoadSplit(args.Data, args.Split, args.TestFraction, (ulong)args.Seed, args.AllowOutsidePaths);
        Output.Step($"data: {split.Train.Count} training and {split.Test.Count} test images, labels: {string.Join(", ", split.Train.Select(i => i.Label).Distinct())}");
        var head = new SoftmaxHeadOptions { Seed = args.Seed, LabelSmoothing = args.LabelSmoothing };
        if (args.Epochs is { } n) head = head with { Epochs = n };
        ClassifierTrunk? old = null;
        ClassifierModel? saved = null;
        IReadOnlyList<string> oldClasses = [];
        if (args.From is { } from)
        {
            // Read once: the graph and head it starts from, and the class names the warnings below compare.
            saved = ClassifierWorkflow.ReadForRetraining(mlContext, from);
            old = saved.Trunk;
            oldClasses = saved.Classes;
            Output.Step($"retraining {Path.GetFullPath(from)}: {old.BackboneName}, {old.InputSize}×{old.InputSize}, {old.Channels} features; classes {string.Join(", ", oldClasses)}");
        }
        var backbone = old is not null
            ? old.Spec(args.From!)
            : BackbonesCommand.Resolve(args.Backbone, args.FeatureNode, args.InputSize) with { Weights = args.Weights, Precision = args.Precision, Pooling = args.Features ?? FeaturePooling.Average };
        bool choosePooling = old is null && args.Features is null && backbone.PrefixTokens > 0;
        if (old is null)
            Output.Step($"backbone: {backbone.Name}, {backbone.InputSize}×{backbone.InputSize}, {FeaturesDescription(backbone, choosePooling)} {backbone.FeatureMapNode ?? backbone.FeatureNode}"
                + (args.Precision == ComputePrecision.Int8 ? ", int8 (calibrating the quantized graph first)" : ""));
        var options = new ImageClassifierOptions
        {
            Backbone = backbone,
            Head = head,
            Featurizer = new FeaturizerOptions { Device = device, RequireDevice = args.RequireDevice, AllowTf32 = args.Tf32, CacheDirectory = args.Cache },
            AllowEmptyClasses = args.AllowEmptyClasses,
            AugmentedViews = args.Augment,
            AugmentationSeed = args.Seed,
            TestTimeViews = args.Tta,
            ChooseTokenPooling = choosePooling,
            FineTuneStages = args.FineTune,
        };
        var trained = Output.WithProgress("featurizing", (images, epochs) => args.From is null
            ? ClassifierWorkflow.Train(mlContext, split, options, images, epochs, token)
            : ClassifierWorkflow.Retrain(mlContext, saved!, args.From, split, options, images, epochs, token));
        if (args.From is not null)
        {
            foreach (var dropped in oldClasses.Except(trained.Classes))
                Output.Warn($"class '{dropped}' of the old model has no training image here: the new model leaves it out");
            if (trained.Classes.Except(oldClasses).ToList() is { Count: > 0 } added)
                Output.Step($"new classes (their weights start from zero): {string.Join(", ", added)}");
        }
        // Disposing the loaded chain deletes the temporary copy of its ONNX graph that ML.NET writes (30+ MB a load).
        using var release = trained.Model as IDisposable;
        var images = trained.Images!;
        Output.ReportSkipped(images.Skipped, "training");
        foreach (var warning in images.CacheWarnings) Output.Warn(warning);
        if (args.Cache is not null && trained.FineTunedStages > 0)
            Output.Step($"cache: {images.CacheHits} of {images.Features.Rows * (1 + Math.Max(1, args.Augment))} stage inputs (images and their views) read from {args.Cache}");
        else if (args.Cache is not null)
            Output.Step($"cache: {images.CacheHits} of {images.Features.Rows + images.Skipped.Count} training images read from {args.Cache}");
        if (trained.PoolingValidationLoss is { } losses)
            Output.Step($"features chosen on validation rows: {Name(trained.ChosenPooling!.Value)} (validation loss "
                + string.Join(", ", losses.Select(l => $"{Name(l.Key)} {l.Value:F4}")) + ")");
        if (trained.FineTunedStages > 0)
            Output.Step($"fine-tuned the last stage: kept epoch {trained.BestEpoch} of {trained.Epochs.Count(h => h.Phase == MLNetClassify.Learning.EpochPhase.FineTune) - 1}"
                + (trained.BestEpoch == 0 ? " (none beat the head alone on validation images: the stage stays as pretrained)" : ""));
        else
            Output.Step($"head: best epoch {trained.BestEpoch} of {trained.Epochs.Count(h => h.Phase == MLNetClassify.Learning.EpochPhase.Train)}, then refit on all training rows");

        token.ThrowIfCancellationRequested();
        // A retrained model keeps the old graph: its weight storage and precision are what the old record says.
        var (weights, precision) = args.From is null
            ? (args.Weights.ToString().ToLowerInvariant(), args.Precision.ToString().ToLowerInvariant())
            : OldRecordValues(args.From);
        var record = new InfoCommand.TrainingRecord(
            $"MLNetClassify {typeof(ClassifierWorkflow).Assembly.GetName().Version}", DateTime.UtcNow.ToString("yyyy-MM-ddTHH:mm:ssZ", System.Globalization.CultureInfo.InvariantCulture),
            Path.GetFullPath(args.Data), args.Split is null ? null : Path.GetFullPath(args.Split), args.Seed, args.Epochs, backbone.Name, backbone.InputSize,
            weights, precision, trained.Classes,
            split.Train.GroupBy(i => i.Label).OrderBy(g => g.Key, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Count()),
            images.Features.Rows, trained.Test?.Images ?? 0, trained.Test?.Accuracy, trained.Test?.MacroAccuracy, trained.Test?.LogLoss, trained.BestEpoch)
        {
            Features = old is null ? Name(trained.ChosenPooling ?? backbone.Pooling) : null,
            AugmentedViews = args.Augment,
            LabelSmoothing = args.LabelSmoothing,
            RetrainedFrom = args.From is null ? null : Path.GetFullPath(args.From),
            FineTunedStages = trained.FineTunedStages > 0 ? trained.FineTunedStages : null,
            FineTuneBestEpoch = trained.FineTunedStages > 0 ? trained.BestEpoch : null,
        };
        // The zip is written from the classifier model: the stock chain generated from it, and its head record.
        var json = System.Text.Json.JsonSerializer.Serialize(record, CliJson.Default.TrainingRecord);
        if (ClassifierModel.Of(trained) is { } classifier)
            ModelFiles.Save(mlContext, classifier, args.Model, json, trained.TrainedImages);
        else
            ModelFiles.Save(mlContext, trained.Model, trained.InputSchema!, args.Model, json, trained.TrainedImages);
        Output.Step($"model: {Path.GetFullPath(args.Model)} ({new FileInfo(args.Model).Length / 1e6:F1} MB)");
        var test = trained.Test;
        if (test is not null)
        {
            Output.ReportSkipped(test.Skipped, "test");
            foreach (var warning in test.CacheWarnings) Output.Warn(warning);
            foreach (var u in test.UnknownLabels) Output.Warn($"test image {u.ImagePath} has label '{u.Label}', which no training image has; left out");
        }
        var summary = new Summary(
            test?.Accuracy, test?.MacroAccuracy, test?.LogLoss, images.Features.Rows, test?.Images ?? 0,
            images.Skipped.Count + (test?.Skipped.Count ?? 0), trained.Classes, images.ImagesPerSecond, images.CacheHits, device.ToString(),
            backbone.InputSize, backbone.Name, weights, precision,
            trained.BestEpoch, clock.Elapsed.TotalSeconds, Path.GetFullPath(args.Model));
        if (args.Report is { } folder)
        {
            if (split.Test.Count == 0)
                Output.Warn("no test images: no report written");
            else
            {
                var (figures, _) = Reports.Report.Write(mlContext, args.Model, split.Test, folder, $"Training of {Path.GetFileName(args.Model)}", trained, token);
                Output.Step($"report: {figures.Report}");
                summary = summary with { PerClass = figures.PerClass, Confusion = figures.Confusion, TopLosses = figures.TopLosses, Report = figures.Report };
            }
        }
        if (args.Json)
        {
            Output.JsonLine(summary, CliJson.Default.TrainSummary);
        }
        else
        {
            if (test is not null) Console.WriteLine(test.ConfusionTable);
            Console.WriteLine($"accuracy {summary.Accuracy:F4}  macro accuracy {summary.MacroAccuracy:F4}  log-loss {summary.LogLoss:F4}");
            Console.WriteLine($"{summary.TrainImages} training images featurized at {summary.FeaturizeImagesPerS:F1} img/s; {summary.Seconds:F1} s in all");
        }
        return 0;
    }

    /// <summary>How the training record, --features and the console name a pooling: its option value in lower case.</summary>
    private static string Name(FeaturePooling pooling) => pooling.ToString().ToLowerInvariant();

    private static string FeaturesDescription(BackboneSpec backbone, bool choosing) => backbone switch
    {
        _ when choosing => $"{backbone.Channels} features, the class token or the patch tokens' mean (chosen on validation rows), of",
        { PrefixTokens: not null, Pooling: FeaturePooling.Average } => $"{backbone.Channels} features, the patch tokens' mean, of",
        { Pooling: FeaturePooling.Average } => $"{backbone.Channels} features from",
        _ => $"{Name(backbone.Pooling)} pooling of",
    };
}

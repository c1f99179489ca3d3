using System.CommandLine;
using System.Diagnostics;
using Microsoft.ML;
using MLNetClassify.Backbones;
using MLNetClassify.Featurization;
using MLNetClassify.Heads;
using MLNetClassify.Persistence;
using MLNetClassify.Training;

namespace MLNetClassify.Cli.Commands;

/// <summary><c>train</c>: folder (and optional split) → model zip, with test metrics.</summary>
internal static class TrainCommand
{
    public static Command Create()
    {
        var data = CommonOptions.Data();
        var model = CommonOptions.Model("Where to write the model zip (written atomically).");
        var split = CommonOptions.Split();
        var testFraction = new Option<double>("--test-fraction") { Description = "Test share of each label when no split file is given.", DefaultValueFactory = _ => 0.2 };
        var seed = new Option<int>("--seed") { Description = "Seed for the split and the head's training.", DefaultValueFactory = _ => 1 };
        var epochs = new Option<int?>("--epochs") { Description = "Most epochs for the softmax head (default 100, early stopping on)." };
        var inputSize = new Option<int?>("--input-size")
        {
            Description = "Side S of the S×S images fed to the backbone (default: the backbone's own, 224 for ResNet18; 64 and up works for it, as it runs fully convolutionally and pools globally).",
        };
        var backbone = BackbonesCommand.BackboneOption();
        var featureNode = BackbonesCommand.FeatureNodeOption();
        var weights = new Option<WeightStorage>("--weights")
        {
            Description = "How the saved model stores the backbone's weights: Float16 halves the zip (arithmetic stays float32), Float32 keeps them bit for bit.",
            DefaultValueFactory = _ => BackboneCatalog.ResNet18.Weights,
        };
        var precision = CommonOptions.Precision();
        var cache = CommonOptions.Cache();
        var noCache = CommonOptions.NoCache();
        var json = CommonOptions.Json();
        var device = CommonOptions.Device();
        var requireDevice = CommonOptions.RequireDevice();
        var command = new Command("train", "Train a classifier on a folder of images (one sub-folder per label) and save it as an ML.NET model zip.")
        {
            data, model, split, testFraction, seed, epochs, backbone, featureNode, inputSize, weights, precision, cache, noCache, device, requireDevice, json,
        };
        command.SetAction((result, token) => Task.FromResult(CommonOptions.Guard(() => Run(new TrainArguments(
            result.GetValue(data)!, result.GetValue(model)!, result.GetValue(split), result.GetValue(testFraction),
            result.GetValue(seed), result.GetValue(epochs), result.GetValue(json), result.GetValue(device)!, result.GetValue(requireDevice), result.GetValue(inputSize), result.GetValue(weights),
            CommonOptions.CacheFolder(result.GetValue(cache), result.GetValue(noCache)), result.GetValue(backbone)!, result.GetValue(featureNode), result.GetValue(precision)), token))));
        return command;
    }

    internal sealed record TrainArguments(string Data, string Model, string? Split, double TestFraction, int Seed, int? Epochs, bool Json,
        string Device = "cpu", bool RequireDevice = false, int? InputSize = null, WeightStorage Weights = WeightStorage.Float16, string? Cache = null,
        string Backbone = "resnet18", string? FeatureNode = null, ComputePrecision Precision = ComputePrecision.Float32);

    internal static int Run(TrainArguments args, CancellationToken token)
    {
        var clock = Stopwatch.StartNew();
        var mlContext = new MLContext(args.Seed);
        var device = CommonOptions.UseDevice(mlContext, args.Device, args.RequireDevice);
        var split = CommonOptions.LoadSplit(args.Data, args.Split, args.TestFraction, (ulong)args.Seed);
        Output.Step($"data: {split.Train.Count} training and {split.Test.Count} test images, labels: {string.Join(", ", split.Train.Select(i => i.Label).Distinct())}");
        var head = new SoftmaxHeadOptions { Seed = args.Seed };
        if (args.Epochs is { } n) head = head with { Epochs = n };
        var backbone = BackbonesCommand.Resolve(args.Backbone, args.FeatureNode, args.InputSize) with { Weights = args.Weights, Precision = args.Precision };
        Output.Step($"backbone: {backbone.Name}, {backbone.InputSize}×{backbone.InputSize}, {backbone.Channels} features from {backbone.FeatureMapNode ?? backbone.FeatureNode}"
            + (args.Precision == ComputePrecision.Int8 ? ", int8 (calibrating the quantized graph first)" : ""));
        var options = new ImageClassifierOptions
        {
            Backbone = backbone,
            Head = head,
            Featurizer = new FeaturizerOptions { Device = device, RequireDevice = args.RequireDevice, CacheDirectory = args.Cache },
        };
        var trained = ClassifierWorkflow.Train(mlContext, split, options, Output.FeaturizationProgress("featurizing"), cancellationToken: token);
        var images = trained.Images!;
        Output.ReportSkipped(images.Skipped, "training");
        foreach (var warning in images.CacheWarnings) Output.Warn(warning);
        if (args.Cache is not null)
            Output.Step($"cache: {images.CacheHits} of {images.Features.Rows + images.Skipped.Count} training images read from {args.Cache}");
        Output.Step($"head: best epoch {trained.BestEpoch} of {trained.Epochs.Count(h => h.Phase == "train")}, then refit on all training rows");

        token.ThrowIfCancellationRequested();
        ModelFiles.Save(mlContext, trained.Model, trained.InputSchema!, args.Model);
        Output.Step($"model: {Path.GetFullPath(args.Model)} ({new FileInfo(args.Model).Length / 1e6:F1} MB)");
        var test = trained.Test;
        if (test is not null)
        {
            Output.ReportSkipped(test.Skipped, "test");
            foreach (var u in test.UnknownLabels) Output.Warn($"test image {u.ImagePath} has label '{u.Label}', which no training image has; left out");
        }
        var summary = new
        {
            accuracy = test?.Accuracy,
            macro_accuracy = test?.MacroAccuracy,
            log_loss = test?.LogLoss,
            train_images = images.Features.Rows,
            test_images = test?.Images ?? 0,
            skipped_images = images.Skipped.Count + (test?.Skipped.Count ?? 0),
            classes = trained.Classes,
            featurize_images_per_s = images.ImagesPerSecond,
            cache_hits = images.CacheHits,
            device = device.ToString(),
            input_size = backbone.InputSize,
            backbone = backbone.Name,
            weights = args.Weights.ToString().ToLowerInvariant(),
            precision = args.Precision.ToString().ToLowerInvariant(),
            best_epoch = trained.BestEpoch,
            seconds = clock.Elapsed.TotalSeconds,
            model = Path.GetFullPath(args.Model),
        };
        if (args.Json)
        {
            Output.JsonLine(summary);
        }
        else
        {
            if (test is not null) Console.WriteLine(test.ConfusionTable);
            Console.WriteLine($"accuracy {summary.accuracy:F4}  macro accuracy {summary.macro_accuracy:F4}  log-loss {summary.log_loss:F4}");
            Console.WriteLine($"{summary.train_images} training images featurized at {summary.featurize_images_per_s:F1} img/s; {summary.seconds:F1} s in all");
        }
        return 0;
    }
}

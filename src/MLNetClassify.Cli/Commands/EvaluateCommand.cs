using System.CommandLine;
using System.Diagnostics;
using Microsoft.ML;
using MLNetClassify.Data;
using MLNetClassify.Persistence;
using MLNetClassify.Training;

namespace MLNetClassify.Cli.Commands;

/// <summary><c>evaluate</c>: a saved model on a folder (the split's test images, or all of them).</summary>
internal static class EvaluateCommand
{
    public static Command Create()
    {
        var model = CommonOptions.Model("The model zip to evaluate.");
        var data = CommonOptions.Data();
        var split = CommonOptions.Split();
        var json = CommonOptions.Json();
        var device = CommonOptions.Device();
        var requireDevice = CommonOptions.RequireDevice();
        var cache = CommonOptions.Cache();
        var noCache = CommonOptions.NoCache();
        var rowByRow = new Option<bool>("--row-by-row")
        {
            Description = "Score through the loaded model's own PredictionEngine path, one image at a time, as an application does (no cache).",
        };
        var command = new Command("evaluate",
            "Evaluate a saved model on labelled images: the split's test rows, or every image when no split is given. Images go through "
            + "the model's own featurizer graph in batches and the feature cache (what train featurized is not run again).")
        {
            model, data, split, device, requireDevice, cache, noCache, rowByRow, json,
        };
        command.SetAction((result, token) => Task.FromResult(CommonOptions.Guard(() =>
            Run(result.GetValue(model)!, result.GetValue(data)!, result.GetValue(split), result.GetValue(json),
                result.GetValue(device)!, result.GetValue(requireDevice),
                result.GetValue(rowByRow) ? null : CommonOptions.CacheFolder(result.GetValue(cache), result.GetValue(noCache)), result.GetValue(rowByRow), token))));
        return command;
    }

    private static int Run(string modelPath, string dataDirectory, string? splitFile, bool json, string device, bool requireDevice, string? cache, bool rowByRow,
        CancellationToken token)
    {
        var clock = Stopwatch.StartNew();
        var mlContext = new MLContext(1);
        var actual = CommonOptions.UseDevice(mlContext, device, requireDevice);
        var model = ModelFiles.Load(mlContext, modelPath);
        var images = splitFile is null ? ImageDataset.FromFolder(dataDirectory) : DataSplit.ReadFile(splitFile, dataDirectory).Test;
        Output.Step($"evaluating {images.Count} images with {modelPath}");
        var summary = rowByRow
            ? ClassifierWorkflow.Evaluate(mlContext, model, images, token)
            : ClassifierWorkflow.EvaluateSaved(mlContext, model, modelPath, images,
                new Featurization.FeaturizerOptions { Device = actual, RequireDevice = requireDevice, CacheDirectory = cache }, token);
        if (summary.Batched && cache is not null)
            Output.Step($"cache: {summary.CacheHits} of {summary.Images + summary.Skipped.Count} images read from {cache}");
        else if (!summary.Batched && !rowByRow)
            Output.Step("the model holds no MLNetClassify featurizer graph: scored row by row, without the cache");
        Output.ReportSkipped(summary.Skipped, "");
        foreach (var u in summary.UnknownLabels) Output.Warn($"image {u.ImagePath} has label '{u.Label}', which the model does not know; left out");
        var result = new
        {
            accuracy = summary.Accuracy,
            macro_accuracy = summary.MacroAccuracy,
            log_loss = summary.LogLoss,
            train_images = 0,
            test_images = summary.Images,
            skipped_images = summary.Skipped.Count,
            unknown_label_images = summary.UnknownLabels.Count,
            classes = ModelInfo.Classes(mlContext, model),
            featurize_images_per_s = summary.ImagesPerSecond,
            batched = summary.Batched,
            cache_hits = summary.CacheHits,
            device = actual.ToString(),
            seconds = clock.Elapsed.TotalSeconds,
        };
        if (json)
        {
            Output.JsonLine(result);
        }
        else
        {
            Console.WriteLine(summary.ConfusionTable);
            Console.WriteLine($"accuracy {result.accuracy:F4}  macro accuracy {result.macro_accuracy:F4}  log-loss {result.log_loss:F4}  ({result.test_images} images, {result.featurize_images_per_s:F1} img/s)");
        }
        return 0;
    }
}

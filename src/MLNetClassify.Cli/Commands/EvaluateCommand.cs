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
        var command = new Command("evaluate", "Evaluate a saved model on labelled images: the split's test rows, or every image when no split is given.")
        {
            model, data, split, device, requireDevice, json,
        };
        command.SetAction((result, token) => Task.FromResult(CommonOptions.Guard(() =>
            Run(result.GetValue(model)!, result.GetValue(data)!, result.GetValue(split), result.GetValue(json),
                result.GetValue(device)!, result.GetValue(requireDevice), token))));
        return command;
    }

    private static int Run(string modelPath, string dataDirectory, string? splitFile, bool json, string device, bool requireDevice, CancellationToken token)
    {
        var clock = Stopwatch.StartNew();
        var mlContext = new MLContext(1);
        var actual = CommonOptions.UseDevice(mlContext, device, requireDevice);
        var model = ModelFiles.Load(mlContext, modelPath);
        var images = splitFile is null ? ImageDataset.FromFolder(dataDirectory) : DataSplit.ReadFile(splitFile, dataDirectory).Test;
        Output.Step($"evaluating {images.Count} images with {modelPath}");
        var summary = ClassifierWorkflow.Evaluate(mlContext, model, images, token);
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

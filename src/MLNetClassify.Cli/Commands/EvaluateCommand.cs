using System.CommandLine;
using System.Diagnostics;
using System.Text.Json.Serialization;
using Microsoft.ML;
using MLNetClassify.Backbones;
using MLNetClassify.Data;
using MLNetClassify.Models;
using MLNetClassify.Training;

namespace MLNetClassify.Cli.Commands;

/// <summary><c>evaluate</c>: a saved model on a folder (the split's test images, or all of them).</summary>
internal static class EvaluateCommand
{
    /// <summary>What <c>evaluate</c> was asked to do.</summary>
    internal sealed record Settings
    {
        public required string Model { get; init; }
        public required string Data { get; init; }
        public string? Split { get; init; }
        public bool Json { get; init; }
        public ExecutionDevice Device { get; init; }
        public bool RequireDevice { get; init; }
        public bool Tf32 { get; init; }
        public string? Cache { get; init; }
        public bool RowByRow { get; init; }
        public bool AllowOutsidePaths { get; init; }
        public string? Report { get; init; }
        public int Tta { get; init; } = 1;
    }

    /// <summary>The JSON line of <c>evaluate --json</c>.</summary>
    /// <param name="TrainImages">Always null: the zip does not record how many images trained it (the key is kept for scripts that read train's and evaluate's lines alike).</param>
    internal sealed record Summary(
        double Accuracy, double MacroAccuracy, double LogLoss,
        [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] int? TrainImages,
        int TestImages, int SkippedImages, int UnknownLabelImages, IReadOnlyList<string> Classes, double FeaturizeImagesPerS, bool Batched,
        int CacheHits, string Device, double Seconds) : Reports.ReportKeys;

    public static Command Create()
    {
        var model = CommonOptions.Model("The model zip to evaluate.");
        var data = CommonOptions.Data();
        var split = CommonOptions.Split();
        var json = CommonOptions.Json();
        var device = CommonOptions.Device();
        var requireDevice = CommonOptions.RequireDevice();
        var tf32 = CommonOptions.Tf32();
        var cache = CommonOptions.Cache();
        var noCache = CommonOptions.NoCache();
        var allowOutside = CommonOptions.AllowOutsidePaths();
        var report = CommonOptions.Report();
        var rowByRow = new Option<bool>("--row-by-row")
        {
            Description = "Score through the loaded model's own PredictionEngine path, one image at a time, as an application does (no cache).",
        };
        var tta = CommonOptions.Tta();
        var command = new Command("evaluate",
            "Evaluate a saved model on labelled images: the split's test rows, or every image when no split is given. Images go through "
            + "the model's own featurizer graph in batches and the feature cache (what train featurized is not run again).")
        {
            model, data, split, device, requireDevice, tf32, cache, noCache, rowByRow, tta, allowOutside, report, json,
        };
        Verb.SetAction(command, (result, token) => Run(new Settings
        {
            Model = result.GetValue(model)!,
            Data = result.GetValue(data)!,
            Split = result.GetValue(split),
            Json = result.GetValue(json),
            Device = result.GetValue(device),
            RequireDevice = result.GetValue(requireDevice),
            Tf32 = result.GetValue(tf32),
            Cache = result.GetValue(rowByRow) ? null : CommonOptions.CacheFolder(result.GetValue(cache), result.GetValue(noCache)),
            RowByRow = result.GetValue(rowByRow),
            AllowOutsidePaths = result.GetValue(allowOutside),
            Report = result.GetValue(report),
            Tta = result.GetValue(tta),
        }, token));
        return command;
    }

    private static int Run(Settings args, CancellationToken token)
    {
        string modelPath = args.Model, dataDirectory = args.Data;
        string? splitFile = args.Split, cache = args.Cache;
        bool requireDevice = args.RequireDevice, rowByRow = args.RowByRow, json = args.Json;
        if (rowByRow && args.Tf32)
            throw new ArgumentException("--tf32 applies to the batched path; --row-by-row runs ML.NET's own ONNX step, which keeps ONNX Runtime's default (TF32 on).");
        var clock = Stopwatch.StartNew();
        var mlContext = new MLContext(1);
        var actual = CommonOptions.UseDevice(mlContext, args.Device, requireDevice);
        var model = ModelFiles.Load(mlContext, modelPath);
        // Disposing the loaded chain deletes the temporary copy of its ONNX graph that ML.NET writes (30+ MB a load).
        using var release = model as IDisposable;
        var images = splitFile is null ? CommonOptions.ImagesOf(dataDirectory) : CommonOptions.ReadSplit(splitFile, dataDirectory, args.AllowOutsidePaths).Test;
        Output.Step($"evaluating {images.Count} images with {modelPath}");
        if (rowByRow && args.Tta > 1)
            throw new ArgumentException("--tta averages views through the batched path; it cannot be combined with --row-by-row.");
        var summary = rowByRow
            ? ClassifierWorkflow.Evaluate(mlContext, model, images, token)
            : ClassifierWorkflow.EvaluateSavedWithViews(mlContext, model, modelPath, images,
                new Featurization.FeaturizerOptions { Device = actual, RequireDevice = requireDevice, AllowTf32 = args.Tf32, CacheDirectory = cache }, args.Tta, 1, token);
        if (args.Tta > 1)
            Output.Step($"test-time augmentation: probabilities averaged over {args.Tta} views of each image");
        if (summary.Batched && cache is not null)
            Output.Step($"cache: {summary.CacheHits} of {summary.Images + summary.Skipped.Count} images read from {cache}");
        else if (!summary.Batched && !rowByRow)
            Output.Step("the model holds no MLNetClassify featurizer graph: scored row by row, without the cache");
        Output.ReportSkipped(summary.Skipped, "");
        foreach (var warning in summary.CacheWarnings) Output.Warn(warning);
        foreach (var u in summary.UnknownLabels) Output.Warn($"image {u.ImagePath} has label '{u.Label}', which the model does not know; left out");
        var result = new Summary(summary.Accuracy, summary.MacroAccuracy, summary.LogLoss, null, summary.Images, summary.Skipped.Count,
            summary.UnknownLabels.Count, ModelInfo.Classes(mlContext, model), summary.ImagesPerSecond, summary.Batched, summary.CacheHits,
            actual.ToString(), clock.Elapsed.TotalSeconds);
        if (args.Report is { } folder)
        {
            var (figures, _) = Reports.Report.Write(mlContext, modelPath, images, folder, $"Evaluation of {Path.GetFileName(modelPath)}", cancellationToken: token);
            Output.Step($"report: {figures.Report}");
            result = result with { PerClass = figures.PerClass, Confusion = figures.Confusion, TopLosses = figures.TopLosses, Report = figures.Report };
        }
        if (json)
        {
            Output.JsonLine(result, CliJson.Default.EvaluateSummary);
        }
        else
        {
            Console.WriteLine(summary.ConfusionTable);
            Console.WriteLine($"accuracy {result.Accuracy:F4}  macro accuracy {result.MacroAccuracy:F4}  log-loss {result.LogLoss:F4}  ({result.TestImages} images, {result.FeaturizeImagesPerS:F1} img/s)");
        }
        return 0;
    }
}

using System.CommandLine;
using Microsoft.ML;
using MLNetClassify.Backbones;
using MLNetClassify.Data;
using MLNetClassify.Persistence;

namespace MLNetClassify.Cli.Commands;

/// <summary><c>predict</c>: a saved model on image files or folders, through PredictionEngine.</summary>
internal static class PredictCommand
{
    /// <summary>One JSON line of <c>predict --json</c>: a prediction, or the error that kept an image from one.</summary>
    internal sealed record Line(string Path, string? Label = null, float? Score = null, IReadOnlyList<Ranked>? Top = null, string? Error = null);

    /// <summary>A label and its probability.</summary>
    internal sealed record Ranked(string Label, float Score);

    public static Command Create()
    {
        var model = CommonOptions.Model("The model zip to predict with.");
        var paths = new Argument<string[]>("paths") { Description = "Image files or folders (searched recursively).", Arity = ArgumentArity.OneOrMore };
        var top = new Option<int>("--top") { Description = "How many labels to list per image (at least 1).", DefaultValueFactory = _ => 3 }.AtLeast(1);
        var json = CommonOptions.Json();
        var device = CommonOptions.Device();
        var requireDevice = CommonOptions.RequireDevice();
        var command = new Command("predict", "Predict labels for images with a saved model.") { model, paths, top, device, requireDevice, json };
        Verb.SetAction(command, (result, token) => Run(new Settings
        {
            Model = result.GetValue(model)!,
            Paths = result.GetValue(paths)!,
            Top = result.GetValue(top),
            Json = result.GetValue(json),
            Device = result.GetValue(device),
            RequireDevice = result.GetValue(requireDevice),
        }, token));
        return command;
    }

    /// <summary>What <c>predict</c> was asked to do.</summary>
    internal sealed record Settings
    {
        public required string Model { get; init; }
        public required IReadOnlyList<string> Paths { get; init; }
        public int Top { get; init; } = 3;
        public bool Json { get; init; }
        public ExecutionDevice Device { get; init; }
        public bool RequireDevice { get; init; }
    }

    internal static int Run(Settings args, CancellationToken token)
    {
        var (modelPath, paths, top, json) = (args.Model, args.Paths, args.Top, args.Json);
        var mlContext = new MLContext(1);
        CommonOptions.UseDevice(mlContext, args.Device, args.RequireDevice);
        var model = ModelFiles.Load(mlContext, modelPath, out var inputSchema);
        var classes = ModelInfo.Classes(mlContext, model);
        var files = Expand(paths);
        // Each file decoded as training decodes it (upright, DCT-scaled, size-limited), then the model's own steps.
        using var scorer = new DecodedImageScorer(mlContext, model, inputSchema: inputSchema);
        int predicted = 0;
        foreach (var file in files)
        {
            token.ThrowIfCancellationRequested();
            var (score, problem) = scorer.Score(file);
            if (score is null)
            {
                Output.Warn($"skipped {file}: {problem}");
                if (json) Output.JsonLine(new Line(file, Error: problem), CliJson.Default.PredictLine);
                continue;
            }
            int best = Array.IndexOf(score, score.Max());
            var ranked = score.Select((s, i) => (label: classes[i], score: s)).OrderByDescending(x => x.score).Take(top).ToList();
            if (json)
                Output.JsonLine(new Line(file, classes[best], score[best], ranked.Select(r => new Ranked(r.label, r.score)).ToList()), CliJson.Default.PredictLine);
            else
                Console.WriteLine($"{file}\t{classes[best]}\t{score[best]:F4}\t{string.Join("  ", ranked.Select(r => $"{r.label}={r.score:F3}"))}");
            predicted++;
        }
        if (predicted == 0)
            throw new ArgumentException($"No readable image among {files.Count} file(s).");
        return 0;
    }

    /// <summary>Files as given; folders expanded to their image files, sorted.</summary>
    internal static List<string> Expand(IEnumerable<string> paths)
    {
        var files = new List<string>();
        var leftOut = new SortedDictionary<string, int>(StringComparer.OrdinalIgnoreCase);
        foreach (var path in paths)
        {
            if (Directory.Exists(path))
            {
                var all = Directory.EnumerateFiles(path, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal).ToList();
                files.AddRange(all.Where(ImageDataset.IsImageFile));
                foreach (var other in all.Where(f => !ImageDataset.IsImageFile(f)))
                    leftOut[Path.GetExtension(other).ToLowerInvariant()] = leftOut.GetValueOrDefault(Path.GetExtension(other).ToLowerInvariant()) + 1;
            }
            else
                files.Add(path);
        }
        CommonOptions.ReportLeftOut(leftOut);
        return files;
    }

    /// <summary>What PredictionEngine returns.</summary>
    internal sealed class Prediction
    {
        public float[] Score { get; set; } = [];
        public string PredictedLabelValue { get; set; } = "";
    }
}

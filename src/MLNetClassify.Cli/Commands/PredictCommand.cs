using System.CommandLine;
using System.Text.Json;
using Microsoft.ML;
using MLNetClassify.Backbones;
using MLNetClassify.Data;
using MLNetClassify.Featurization;
using MLNetClassify.Images;
using MLNetClassify.Models;
using MLNetClassify.Serving;

namespace MLNetClassify.Cli.Commands;

/// <summary><c>predict</c>: a saved model on image files or folders, through PredictionEngine.</summary>
internal static class PredictCommand
{
    /// <summary>One JSON line of <c>predict --json</c>: a prediction, or the error that kept an image from one.</summary>
    internal sealed record Line(string Path, string? Label = null, float? Score = null, IReadOnlyList<Ranked>? Top = null, string? Error = null);

    /// <summary>A label and its probability.</summary>
    internal sealed record Ranked(string Label, float Score);

    /// <summary>The JSON line of <c>predict --out FILE --json</c>: what this task did.</summary>
    internal sealed record Summary(string Shard, int Images, int Predicted, int Skipped, double ImagesPerS, string Out);

    public static Command Create()
    {
        var model = new Option<string?>("--model") { Description = "The model zip to predict with." };
        var paths = new Argument<string[]>("paths") { Description = "Image files or folders (searched recursively).", Arity = ArgumentArity.ZeroOrMore };
        var top = new Option<int>("--top") { Description = "How many labels to list per image (at least 1).", DefaultValueFactory = _ => 3 }.AtLeast(1);
        var shard = new Option<Shard>("--shard")
        {
            Description = "Score only share i/n (0-based) of the sorted image list: images i, i+n, i+2n, ...; auto: i and n of a Slurm array task; "
                + "auto/n: i from Slurm or a Kubernetes indexed Job, n given. Use with --out.",
            DefaultValueFactory = _ => Shard.All,
            CustomParser = result => CommonOptions.Parse(result, Shard.Parse),
        };
        var output = new Option<string?>("--out")
        {
            Description = "Write the predictions (a shard header line, then one JSON line per image) to this file, atomically; stdout gets a summary.",
        };
        var merge = new Option<string[]>("--merge")
        {
            Description = "Instead of predicting: merge these --out files of all shards into the JSON lines of one predict --json, in the list's order "
                + "(to --out, else stdout); missing, repeated or damaged shards are named and nothing is written.",
            AllowMultipleArgumentsPerToken = true,
        };
        var json = CommonOptions.Json();
        var device = CommonOptions.Device();
        var requireDevice = CommonOptions.RequireDevice();
        var command = new Command("predict", "Predict labels for images with a saved model; score one shard of them; merge shards.")
        {
            model, paths, top, shard, output, merge, device, requireDevice, json,
        };
        Verb.SetAction(command, (result, token) =>
        {
            if (result.GetValue(merge) is { Length: > 0 } shardFiles)
            {
                if (result.GetValue(paths) is { Length: > 0 })
                    throw new ArgumentException("predict --merge takes results files, not images; give the images to the shard tasks.");
                return Merge(shardFiles, result.GetValue(output));
            }
            return Run(new Settings
            {
                Model = result.GetValue(model) ?? throw new ArgumentException("predict needs --model FILE (or --merge FILE... to merge shard results)."),
                Paths = result.GetValue(paths) is { Length: > 0 } p ? p : throw new ArgumentException("predict needs image files or folders to score."),
                Top = result.GetValue(top),
                Shard = result.GetValue(shard),
                Out = result.GetValue(output),
                Json = result.GetValue(json),
                Device = result.GetValue(device),
                RequireDevice = result.GetValue(requireDevice),
            }, token);
        });
        return command;
    }

    /// <summary>What <c>predict</c> was asked to do.</summary>
    internal sealed record Settings
    {
        public required string Model { get; init; }
        public required IReadOnlyList<string> Paths { get; init; }
        public int Top { get; init; } = 3;
        public Shard Shard { get; init; } = Shard.All;
        public string? Out { get; init; }
        public bool Json { get; init; }
        public ExecutionDevice Device { get; init; }
        public bool RequireDevice { get; init; }
    }

    internal static int Run(Settings args, CancellationToken token)
    {
        var mlContext = new MLContext(1);
        var device = CommonOptions.UseDevice(mlContext, args.Device, args.RequireDevice);
        // A zip holding a classifier model (the library's own) is scored through its one scoring path, in batches and
        // without an ML.NET load; any other ML.NET image model row by row through its own steps.
        var classifier = ClassifierModel.TryRead(mlContext, args.Model);
        DataViewSchema? inputSchema = null;
        var model = classifier is null ? ModelFiles.Load(mlContext, args.Model, out inputSchema) : null;
        // Disposing the loaded chain deletes the temporary copy of its ONNX graph that ML.NET writes (30+ MB a load).
        using var release = model as IDisposable;
        var classes = classifier?.Classes ?? ModelInfo.Classes(mlContext, model!);
        var list = Expand(args.Paths);
        var files = args.Shard.Of(list);
        if (args.Out is { } outFile)
        {
            // Fail now if the results cannot be written, and clear what a killed earlier run of this task left.
            AtomicFile.PrepareDestination(outFile);
            Output.Step($"shard {args.Shard}: {files.Count} of {list.Count} images → {outFile}");
        }
        // Each file decoded as training decodes it (upright, DCT-scaled, size-limited), then the model.
        var scores = classifier is not null
            ? Batched(mlContext, classifier, args, device, files, token)
            : RowByRow(mlContext, model!, inputSchema!, files, token);
        int predicted = 0;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        IEnumerable<Line> Score()
        {
            foreach (var (file, score, problem) in scores)
            {
                if (score is null)
                {
                    Output.Warn($"skipped {file}: {problem}");
                    yield return new Line(file, Error: problem);
                    continue;
                }
                int best = Array.IndexOf(score, score.Max());
                var ranked = score.Select((s, i) => new Ranked(classes[i], s)).OrderByDescending(r => r.Score).Take(args.Top).ToList();
                predicted++;
                yield return new Line(file, classes[best], score[best], ranked);
            }
        }

        if (args.Out is null)
        {
            foreach (var line in Score())
            {
                if (args.Json)
                    Output.JsonLine(line, CliJson.Default.PredictLine);
                else if (line.Error is null)
                    Console.WriteLine($"{line.Path}\t{line.Label}\t{line.Score:F4}\t{string.Join("  ", line.Top!.Select(r => $"{r.Label}={r.Score:F3}"))}");
            }
            if (predicted == 0)
                throw new ArgumentException($"No readable image among {files.Count} file(s).");
            return 0;
        }

        var header = new PredictionFiles.Header(args.Shard.ToString(), list.Count, files.Count, PredictionFiles.ListHash(list), ContentHash.Of(args.Model));
        PredictionFiles.WriteLines(args.Out, Score().Select(line => JsonSerializer.Serialize(line, CliJson.Default.PredictLine))
            .Prepend(JsonSerializer.Serialize(header, CliJson.Default.ShardHeader)));
        var summary = new Summary(args.Shard.ToString(), files.Count, predicted, files.Count - predicted,
            files.Count / Math.Max(clock.Elapsed.TotalSeconds, 1e-9), Path.GetFullPath(args.Out));
        if (args.Json) Output.JsonLine(summary, CliJson.Default.PredictSummary);
        else Console.WriteLine($"shard {summary.Shard}: {summary.Predicted} predicted, {summary.Skipped} skipped ({summary.ImagesPerS:F1} img/s) → {summary.Out}");
        return 0;
    }

    /// <summary>How many files <see cref="Batched"/> scores at once (each chunk's lines are written before the next is read).</summary>
    private const int Chunk = 64;

    /// <summary>Probabilities (or the problem) of each file, in order, through the classifier model's scoring path.</summary>
    private static IEnumerable<(string File, float[]? Score, string? Problem)> Batched(MLContext mlContext, ClassifierModel classifier, Settings args,
        ExecutionDevice device, IReadOnlyList<string> files, CancellationToken token)
    {
        using var scorer = new ClassifierScorer(mlContext, classifier, args.Model, new FeaturizerOptions { Device = device, RequireDevice = args.RequireDevice });
        foreach (var chunk in files.Chunk(Chunk))
        {
            var scored = scorer.Score(chunk.Select(ImageSource.FromFile).ToList(), cancellationToken: token);
            var rows = new (float[]? Score, string? Problem)[chunk.Length];
            for (int row = 0; row < scored.SourceIndices.Length; row++)
                rows[scored.SourceIndices[row]] = (Array.ConvertAll(scored.Probabilities[row], p => (float)p), null);
            foreach (var skip in scored.Featurized.Skipped)
                rows[skip.Index] = (null, skip.Reason);
            for (int i = 0; i < chunk.Length; i++)
                yield return (chunk[i], rows[i].Score, rows[i].Problem);
        }
    }

    /// <summary>Probabilities (or the problem) of each file, in order, through the loaded model's own steps one image at a time.</summary>
    private static IEnumerable<(string File, float[]? Score, string? Problem)> RowByRow(MLContext mlContext, ITransformer model, DataViewSchema inputSchema,
        IReadOnlyList<string> files, CancellationToken token)
    {
        using var scorer = new DecodedImageScorer(mlContext, model, inputSchema: inputSchema);
        foreach (var file in files)
        {
            token.ThrowIfCancellationRequested();
            var (score, problem) = scorer.Score(file);
            yield return (file, score, problem);
        }
    }

    private static int Merge(IReadOnlyList<string> shardFiles, string? outFile)
    {
        var (lines, problems) = PredictionFiles.Merge(shardFiles);
        if (problems.Count > 0)
        {
            foreach (var problem in problems.Take(problems.Count - 1)) Console.Error.WriteLine($"error: {problem}");
            throw new InvalidDataException(problems[^1] + (problems.Count > 1 ? $" ({problems.Count} problems; nothing merged.)" : " Nothing merged."));
        }
        if (outFile is null)
        {
            foreach (var line in lines) Console.Out.WriteLine(line);
            return 0;
        }
        PredictionFiles.WriteLines(outFile, lines);
        Output.Step($"{lines.Count} predictions from {shardFiles.Count} shard(s) → {outFile}");
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

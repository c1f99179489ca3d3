using System.CommandLine;
using Microsoft.ML;
using MLNetClassify.Backbones;
using MLNetClassify.Data;
using MLNetClassify.Featurization;

namespace MLNetClassify.Cli.Commands;

/// <summary>
/// <c>featurize</c>: fill the bottleneck cache for one shard of a folder (so any job runner can fan the work out),
/// or merge shard caches into one; <c>train</c> on the same images then reads them all from the cache.
/// </summary>
internal static class FeaturizeCommand
{
    /// <summary>The JSON line of <c>featurize --json</c>.</summary>
    internal sealed record Summary(string Shard, int Images, int Featurized, int CacheHits, int SkippedImages, double ImagesPerS, string Cache);

    /// <summary>The JSON line of <c>featurize --merge ... --json</c>.</summary>
    internal sealed record MergeSummary(int Merged, int AlreadyPresent, int Damaged, string Cache);

    public static Command Create()
    {
        var data = new Option<string?>("--data") { Description = "Folder with one sub-folder of images per label (all images are featurized, labels unused)." };
        var shard = new Option<Shard>("--shard")
        {
            Description = "Which part to featurize, i/n (0-based): images i, i+n, i+2n, ... of the folder's sorted list; "
                + "auto: i and n of a Slurm array task; auto/n: i from Slurm or a Kubernetes indexed Job, n given.",
            DefaultValueFactory = _ => Shard.All,
            CustomParser = result => CommonOptions.Parse(result, Shard.Parse),
        };
        var merge = new Option<string[]>("--merge") { Description = "Instead of featurizing: copy the sound entries of these cache folders into --cache.", AllowMultipleArgumentsPerToken = true };
        var cache = CommonOptions.Cache();
        var backbone = BackbonesCommand.BackboneOption();
        var featureNode = BackbonesCommand.FeatureNodeOption();
        var inputSize = CommonOptions.InputSize("Side S of the S×S images fed to the backbone (must match train's; default the backbone's own).");
        var weights = CommonOptions.Weights("Weight storage of the featurizer graph (must match train's).");
        var precision = CommonOptions.Precision(" Must match train's.");
        var json = CommonOptions.Json();
        var command = new Command("featurize", "Fill the feature cache for one shard of an image folder, or merge shard caches.")
        {
            data, shard, merge, cache, backbone, featureNode, inputSize, weights, precision, json,
        };
        Verb.SetAction(command, (result, token) =>
        {
            var folder = CommonOptions.CacheFolder(result.GetValue(cache), noCache: false)!;
            var sources = result.GetValue(merge) ?? [];
            if (sources.Length > 0)
                return Merge(sources, folder, result.GetValue(json));
            var dataFolder = result.GetValue(data) ?? throw new ArgumentException("featurize needs --data DIR (or --merge DIR... to merge caches).");
            var spec = BackbonesCommand.Resolve(result.GetValue(backbone)!, result.GetValue(featureNode), result.GetValue(inputSize))
                with { Weights = result.GetValue(weights), Precision = result.GetValue(precision) };
            return Run(dataFolder, result.GetValue(shard), folder, spec, result.GetValue(json), token);
        });
        return command;
    }

    private static int Run(string data, Shard shard, string cache, BackboneSpec backbone, bool json, CancellationToken token)
    {
        var mine = shard.Of(CommonOptions.ImagesOf(data).OrderBy(i => i.ImagePath, StringComparer.Ordinal).ToList());
        Output.Step($"shard {shard}: {mine.Count} images → cache {cache}");
        var mlContext = new MLContext(1);
        using var featurizer = mlContext.ImageClassification().CreateFeaturizer(backbone, new FeaturizerOptions { CacheDirectory = cache });
        var result = Output.WithProgress("featurizing", (progress, _) => featurizer.Featurize(mine.Select(i => i.ImagePath).ToList(), progress, token));
        Output.ReportSkipped(result.Skipped, "");
        foreach (var warning in result.CacheWarnings) Output.Warn(warning);
        var summary = new Summary(shard.ToString(), mine.Count, result.Features.Rows - result.CacheHits, result.CacheHits, result.Skipped.Count,
            result.ImagesPerSecond, Path.GetFullPath(cache));
        if (json) Output.JsonLine(summary, CliJson.Default.FeaturizeSummary);
        else Console.WriteLine($"{summary.Featurized} featurized, {summary.CacheHits} already cached, {summary.SkippedImages} skipped ({summary.ImagesPerS:F1} img/s)");
        return 0;
    }

    private static int Merge(IReadOnlyList<string> sources, string cache, bool json)
    {
        int copied = 0, present = 0, damaged = 0;
        foreach (var source in sources)
        {
            var (c, p, bad) = FeatureCache.Merge(source, cache);
            foreach (var problem in bad) Output.Warn($"not merged, damaged: {problem}");
            copied += c;
            present += p;
            damaged += bad.Count;
        }
        if (json) Output.JsonLine(new MergeSummary(copied, present, damaged, Path.GetFullPath(cache)), CliJson.Default.MergeSummary);
        else Console.WriteLine($"{copied} entries merged into {cache}, {present} already there, {damaged} damaged left out");
        return 0;
    }
}

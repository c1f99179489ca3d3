using System.CommandLine;
using Microsoft.ML;
using MLNetClassify.Backbones;
using MLNetClassify.Data;
using MLNetClassify.Featurization;
using MLNetClassify.Images;

namespace MLNetClassify.Cli.Commands;

/// <summary>
/// <c>featurize</c>: fill the bottleneck cache for one shard of a folder (so any job runner can fan the work out),
/// or merge shard caches into one; <c>train</c> on the same images then reads them all from the cache.
/// </summary>
internal static class FeaturizeCommand
{
    public static Command Create()
    {
        var data = new Option<string?>("--data") { Description = "Folder with one sub-folder of images per label (all images are featurized, labels unused)." };
        var shard = new Option<string>("--shard") { Description = "Which part to featurize, i/n (0-based): images i, i+n, i+2n, ... of the folder's sorted list.", DefaultValueFactory = _ => "0/1" };
        var merge = new Option<string[]>("--merge") { Description = "Instead of featurizing: copy the sound entries of these cache folders into --cache.", AllowMultipleArgumentsPerToken = true };
        var cache = CommonOptions.Cache();
        var backbone = BackbonesCommand.BackboneOption();
        var featureNode = BackbonesCommand.FeatureNodeOption();
        var inputSize = new Option<int?>("--input-size") { Description = "Side S of the S×S images fed to the backbone (must match train's; default the backbone's own)." };
        var weights = new Option<WeightStorage>("--weights") { Description = "Weight storage of the featurizer graph (must match train's).", DefaultValueFactory = _ => BackboneCatalog.ResNet18.Weights };
        var precision = CommonOptions.Precision(" Must match train's.");
        var json = CommonOptions.Json();
        var command = new Command("featurize", "Fill the feature cache for one shard of an image folder, or merge shard caches.")
        {
            data, shard, merge, cache, backbone, featureNode, inputSize, weights, precision, json,
        };
        command.SetAction((result, token) => Task.FromResult(CommonOptions.Guard(() =>
        {
            var folder = CommonOptions.CacheFolder(result.GetValue(cache), noCache: false)!;
            var sources = result.GetValue(merge) ?? [];
            if (sources.Length > 0)
                return Merge(sources, folder, result.GetValue(json));
            var dataFolder = result.GetValue(data) ?? throw new ArgumentException("featurize needs --data DIR (or --merge DIR... to merge caches).");
            var spec = BackbonesCommand.Resolve(result.GetValue(backbone)!, result.GetValue(featureNode), result.GetValue(inputSize))
                with { Weights = result.GetValue(weights), Precision = result.GetValue(precision) };
            return Run(dataFolder, ParseShard(result.GetValue(shard)!), folder, spec, result.GetValue(json), token);
        })));
        return command;
    }

    internal static (int Index, int Count) ParseShard(string text)
    {
        var parts = text.Split('/');
        if (parts.Length != 2 || !int.TryParse(parts[0], out int index) || !int.TryParse(parts[1], out int count) || count < 1 || index < 0 || index >= count)
            throw new ArgumentException($"--shard '{text}' must be i/n with 0 ≤ i < n, e.g. 0/4.");
        return (index, count);
    }

    /// <summary>Every <paramref name="count"/>-th image of the folder's ordinal-sorted list, from <paramref name="index"/>.</summary>
    internal static List<LabeledImage> ShardOf(IReadOnlyList<LabeledImage> images, int index, int count) =>
        images.OrderBy(i => i.ImagePath, StringComparer.Ordinal).Where((_, k) => k % count == index).ToList();

    private static int Run(string data, (int Index, int Count) shard, string cache, BackboneSpec backbone, bool json, CancellationToken token)
    {
        var mine = ShardOf(ImageDataset.FromFolder(data), shard.Index, shard.Count);
        Output.Step($"shard {shard.Index}/{shard.Count}: {mine.Count} images → cache {cache}");
        var mlContext = new MLContext(1);
        using var featurizer = mlContext.ImageClassification().CreateFeaturizer(backbone, new FeaturizerOptions { CacheDirectory = cache });
        var result = featurizer.Featurize(mine.Select(i => ImageSource.FromFile(i.ImagePath)).ToList(), Output.FeaturizationProgress("featurizing"), token);
        Output.ReportSkipped(result.Skipped, "");
        foreach (var warning in result.CacheWarnings) Output.Warn(warning);
        var summary = new
        {
            shard = $"{shard.Index}/{shard.Count}",
            images = mine.Count,
            featurized = result.Features.Rows - result.CacheHits,
            cache_hits = result.CacheHits,
            skipped_images = result.Skipped.Count,
            images_per_s = result.ImagesPerSecond,
            cache = Path.GetFullPath(cache),
        };
        if (json) Output.JsonLine(summary);
        else Console.WriteLine($"{summary.featurized} featurized, {summary.cache_hits} already cached, {summary.skipped_images} skipped ({summary.images_per_s:F1} img/s)");
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
        if (json) Output.JsonLine(new { merged = copied, already_present = present, damaged, cache = Path.GetFullPath(cache) });
        else Console.WriteLine($"{copied} entries merged into {cache}, {present} already there, {damaged} damaged left out");
        return 0;
    }
}

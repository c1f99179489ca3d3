using System.Text.Json;
using Microsoft.ML;
using MLNetClassify.Backbones;
using MLNetClassify.Featurization;
using MLNetClassify.Images;
using MLNetClassify.Tests.Cli;

namespace MLNetClassify.Tests.Featurization;

public sealed class FeatureCacheTests
{
    private static (List<ImageSource> Sources, string Cache) Setup(int perClass, int seed)
    {
        var dir = TestPaths.NewTempDirectory();
        var sources = TestImages.LogoFolder(Path.Combine(dir, "images"), perClass, seed: seed, size: 96).Select(i => ImageSource.FromFile(i.ImagePath)).ToList();
        return (sources, Path.Combine(dir, "cache"));
    }

    [Fact]
    public void SecondRun_ReadsEveryImageFromTheCache_WithIdenticalFeatures_AndACopyUnderAnotherNameHits()
    {
        var (sources, cache) = Setup(3, seed: 21);
        var ml = new MLContext(1);
        using var featurizer = new ImageFeaturizer(ml, BackboneCatalog.ResNet18, new FeaturizerOptions { CacheDirectory = cache });
        var first = featurizer.Featurize(sources);
        Assert.Equal(0, first.CacheHits);

        var copy = Path.Combine(Path.GetDirectoryName(cache)!, "renamed-copy.jpg");
        File.Copy(sources[0].Path!, copy);
        var again = featurizer.Featurize([.. sources, ImageSource.FromFile(copy)]);
        Assert.Equal(sources.Count + 1, again.CacheHits);
        Assert.Equal(first.Features.Values, again.Features.Values.Take(first.Features.Values.Length));
        Assert.Equal(first.Features.Row(0).ToArray(), again.Features.Row(sources.Count).ToArray());
        Assert.Empty(again.CacheWarnings);
    }

    [Fact]
    public void DamagedEntry_IsReportedRebuiltAndRewritten()
    {
        var (sources, cache) = Setup(2, seed: 22);
        var ml = new MLContext(1);
        using var featurizer = new ImageFeaturizer(ml, BackboneCatalog.ResNet18, new FeaturizerOptions { CacheDirectory = cache });
        var first = featurizer.Featurize(sources);
        var entries = Directory.GetFiles(cache, "*.f32", SearchOption.AllDirectories).Order().ToArray();
        Assert.Equal(sources.Count, entries.Length);
        var bytes = File.ReadAllBytes(entries[0]);
        bytes[^1] ^= 0x5A; // one flipped value: only the checksum can tell
        File.WriteAllBytes(entries[0], bytes);
        File.WriteAllBytes(entries[1], bytes[..10]); // truncated

        var second = featurizer.Featurize(sources);
        Assert.Equal(sources.Count - 2, second.CacheHits);
        Assert.Equal(2, second.CacheWarnings.Count);
        Assert.Contains(second.CacheWarnings, w => w.Contains(entries[0]) && w.Contains("checksum"));
        Assert.Contains(second.CacheWarnings, w => w.Contains(entries[1]) && w.Contains("bytes"));
        Assert.Equal(first.Features.Values, second.Features.Values);

        var third = featurizer.Featurize(sources);
        Assert.Equal(sources.Count, third.CacheHits);
        Assert.Empty(third.CacheWarnings);
    }

    [Fact]
    public void EntryCopiedOverAnotherImages_IsNamed_AndThatImageFeaturizedAgain_AlsoInAMerge()
    {
        var (sources, cache) = Setup(2, seed: 26);
        var ml = new MLContext(1);
        using var featurizer = new ImageFeaturizer(ml, BackboneCatalog.ResNet18, new FeaturizerOptions { CacheDirectory = cache });
        var first = featurizer.Featurize(sources);
        string Entry(int i) => Directory.GetFiles(cache, FeatureCache.ContentKey(sources[i].Path!) + ".f32", SearchOption.AllDirectories).Single();
        // Image 0's entry under image 1's key: sound bytes, checksum right, but another image's features.
        File.Copy(Entry(0), Entry(1), overwrite: true);

        var second = featurizer.Featurize(sources);
        Assert.Equal(sources.Count - 1, second.CacheHits);
        var warning = Assert.Single(second.CacheWarnings);
        Assert.Contains(Entry(1), warning);
        Assert.Contains("another image", warning);
        Assert.Equal(first.Features.Values, second.Features.Values); // image 1's own features, not image 0's

        // A merge does not carry such an entry into another cache either.
        File.Copy(Entry(0), Entry(1), overwrite: true);
        var (copied, _, damaged) = FeatureCache.Merge(cache, Path.Combine(Path.GetDirectoryName(cache)!, "merged"));
        Assert.Equal(sources.Count - 1, copied);
        Assert.Contains("another image", Assert.Single(damaged));
    }

    [Fact]
    public void AnotherInputSizeOrWeightStorage_DoesNotShareEntries()
    {
        var (sources, cache) = Setup(1, seed: 23);
        var ml = new MLContext(1);
        var specs = new[] { BackboneCatalog.ResNet18, BackboneCatalog.ResNet18AtSize(160), BackboneCatalog.ResNet18 with { Weights = WeightStorage.Float32 } };
        foreach (var spec in specs)
        {
            using var featurizer = new ImageFeaturizer(ml, spec, new FeaturizerOptions { CacheDirectory = cache });
            Assert.Equal(0, featurizer.Featurize(sources).CacheHits);
        }
        Assert.Equal(3, Directory.GetDirectories(cache).Length);
    }

    [Fact]
    public void Tf32Features_DoNotShareEntriesWithFloat32Ones()
    {
        var (sources, cache) = Setup(1, seed: 24);
        var key = FeatureCache.ContentKey(sources[0].Path!);
        var float32 = new FeatureCache(cache, BackboneCatalog.ResNet18, 4);
        var tf32 = new FeatureCache(cache, BackboneCatalog.ResNet18, 4, tf32: true);
        Assert.NotEqual(float32.Folder, tf32.Folder);
        tf32.Write(key, [1f, 2f, 3f, 4f]);
        Assert.False(float32.TryRead(key, new float[4], out var problem));
        Assert.Null(problem);
        Assert.True(tf32.TryRead(key, new float[4], out _));
    }

    [Fact]
    public void Featurizer_Tf32AllowedOffCuda_UsesTheFloat32Folder()
    {
        var (_, cache) = Setup(1, seed: 25);
        var ml = new MLContext(1);
        string float32 = new FeatureCache(cache, BackboneCatalog.ResNet18, BackboneCatalog.ResNet18.Channels).Folder;
        using var cpu = new ImageFeaturizer(ml, BackboneCatalog.ResNet18, new FeaturizerOptions { AllowTf32 = true, CacheDirectory = cache });
        Assert.False(cpu.UsesTf32);
        Assert.Equal(float32, cpu.CacheFolder);
        // CUDA where it starts (then TF32 applies and its features go apart), else the CPU fallback (float32 again).
        using var cuda = new ImageFeaturizer(ml, BackboneCatalog.ResNet18, new FeaturizerOptions { Device = ExecutionDevice.Cuda(), AllowTf32 = true, CacheDirectory = cache });
        Assert.Equal(cuda.Device.IsCuda, cuda.UsesTf32);
        Assert.Equal(cuda.UsesTf32, cuda.CacheFolder != float32);
    }

    [Fact]
    public void TrainCli_Retrain_ReadsTheCache_AndGivesTheSameModel()
    {
        var (sources, cache) = Setup(8, seed: 24);
        var data = Path.GetDirectoryName(Path.GetDirectoryName(sources[0].Path))!;
        var dir = Path.GetDirectoryName(cache)!;
        JsonElement Train(string model)
        {
            var run = CliRunner.Run(["train", "--data", data, "--model", Path.Combine(dir, model), "--cache", cache, "--epochs", "20", "--json"]);
            Assert.True(run.ExitCode == 0, run.Stderr);
            return JsonDocument.Parse(run.StdoutLines[^1]).RootElement;
        }
        var first = Train("a.zip");
        var second = Train("b.zip");
        Assert.Equal(0, first.GetProperty("cache_hits").GetInt32());
        Assert.Equal(second.GetProperty("train_images").GetInt32(), second.GetProperty("cache_hits").GetInt32());
        Assert.Equal(first.GetProperty("accuracy").GetDouble(), second.GetProperty("accuracy").GetDouble());
        Assert.Equal(first.GetProperty("log_loss").GetDouble(), second.GetProperty("log_loss").GetDouble());
    }

    [Fact]
    public void DamagedEntries_OfTrainingAndTestImages_AreEachNamedByTrainAndByEvaluate()
    {
        var (sources, cache) = Setup(5, seed: 27);
        var data = Path.GetDirectoryName(Path.GetDirectoryName(sources[0].Path))!;
        var model = Path.Combine(Path.GetDirectoryName(cache)!, "m.zip");
        void DamageAll()
        {
            foreach (var entry in Directory.GetFiles(cache, "*.f32", SearchOption.AllDirectories))
            {
                var bytes = File.ReadAllBytes(entry);
                bytes[^1] ^= 0x33;
                File.WriteAllBytes(entry, bytes);
            }
        }
        static int Damaged(CliRunner.Result run) => run.Stderr.Split('\n').Count(l => l.StartsWith("warning: cache entry ") && l.Contains("is damaged (checksum mismatch)"));

        var first = CliRunner.Run(["train", "--data", data, "--model", model, "--cache", cache, "--epochs", "5"]);
        Assert.True(first.ExitCode == 0, first.Stderr);
        Assert.Equal(sources.Count, Directory.GetFiles(cache, "*.f32", SearchOption.AllDirectories).Length); // 8 training + 2 test images
        DamageAll();
        var again = CliRunner.Run(["train", "--data", data, "--model", model, "--cache", cache, "--epochs", "5"]);
        Assert.True(again.ExitCode == 0, again.Stderr);
        Assert.Equal(sources.Count, Damaged(again));
        DamageAll();
        var evaluate = CliRunner.Run(["evaluate", "--model", model, "--data", data, "--cache", cache]);
        Assert.True(evaluate.ExitCode == 0, evaluate.Stderr);
        Assert.Equal(sources.Count, Damaged(evaluate));
    }

    [Fact]
    public void ShardsFeaturizedApart_MergeIntoOneCache_ThatTrainReadsWhole()
    {
        var (sources, cache) = Setup(5, seed: 25);
        var data = Path.GetDirectoryName(Path.GetDirectoryName(sources[0].Path))!;
        var dir = Path.GetDirectoryName(cache)!;
        JsonElement Run(params string[] args)
        {
            var run = CliRunner.Run(args);
            Assert.True(run.ExitCode == 0, run.Stderr);
            return JsonDocument.Parse(run.StdoutLines[^1]).RootElement;
        }
        var a = Run("featurize", "--data", data, "--shard", "0/2", "--cache", Path.Combine(dir, "shard0"), "--json");
        var b = Run("featurize", "--data", data, "--shard", "1/2", "--cache", Path.Combine(dir, "shard1"), "--json");
        Assert.Equal(sources.Count, a.GetProperty("featurized").GetInt32() + b.GetProperty("featurized").GetInt32());
        Assert.Equal(5, a.GetProperty("images").GetInt32());

        // One damaged entry in a shard is named and left out of the merge.
        var damaged = Directory.GetFiles(Path.Combine(dir, "shard1"), "*.f32", SearchOption.AllDirectories).Order().First();
        File.WriteAllBytes(damaged, File.ReadAllBytes(damaged)[..20]);
        var merged = Run("featurize", "--merge", Path.Combine(dir, "shard0"), Path.Combine(dir, "shard1"), "--cache", cache, "--json");
        Assert.Equal(sources.Count - 1, merged.GetProperty("merged").GetInt32());
        Assert.Equal(1, merged.GetProperty("damaged").GetInt32());

        var train = Run("train", "--data", data, "--model", Path.Combine(dir, "m.zip"), "--cache", cache, "--epochs", "10", "--json");
        int trainImages = train.GetProperty("train_images").GetInt32();
        Assert.InRange(train.GetProperty("cache_hits").GetInt32(), trainImages - 1, trainImages);
    }

    [Fact]
    public void Featurize_BadShard_IsAOneLineError()
    {
        var run = CliRunner.Run(["featurize", "--data", TestPaths.NewTempDirectory(), "--shard", "2/2"]);
        Assert.Equal(2, run.ExitCode);
        Assert.Contains("--shard '2/2'", run.Stderr);
    }
}

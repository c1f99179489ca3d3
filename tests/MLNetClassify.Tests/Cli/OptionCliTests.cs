using System.Diagnostics;
using System.Text.Json;
using MLNetClassify.Models;
using MLNetClassify.Tests.Backbones;

namespace MLNetClassify.Tests.Cli;

/// <summary>Options that change what is built (input size, weight storage, cut node, preset), and a shared cache.</summary>
[Collection(LogoModelCollection.Name)]
public class OptionCliTests(LogoModelFixture fixture)
{
    private static JsonElement LastJson(CliRunner.Result run)
    {
        Assert.True(run.ExitCode == 0, run.Stderr);
        return JsonDocument.Parse(run.StdoutLines[^1]).RootElement;
    }

    [Fact]
    public void Train_InputSizeAndFloat32Weights_AreInTheSavedGraph()
    {
        var model = Path.Combine(TestPaths.NewTempDirectory(), "m160.zip");
        var train = LastJson(CliRunner.Run(["train", "--data", fixture.DataDirectory, "--split", fixture.SplitFile, "--model", model,
            "--input-size", "160", "--weights", "Float32", "--epochs", "10", "--no-cache", "--json"]));
        Assert.Equal(160, train.GetProperty("input_size").GetInt32());
        Assert.Equal("float32", train.GetProperty("weights").GetString());

        var saved = ModelFiles.ReadFeaturizerGraph(model)!;
        Assert.Equal(160, saved.InputSize);
        // Float32 storage keeps ResNet18's 11.7 M weights as 4-byte floats (float16 storage: about half).
        Assert.True(saved.Graph.Length > 44_000_000, $"graph of {saved.Graph.Length} bytes");
    }

    [Fact]
    public void InspectAndTrain_FeatureNode_CutWhereTold_AndPresetIsHonoured()
    {
        var dir = TestPaths.NewTempDirectory();
        var graph = FamilyGraphs.TwoPooledBranches(dir); // undecidable on its own: two pooled branches join
        var inspect = LastJson(CliRunner.Run(["backbones", "inspect", graph.Path, "--feature-node", "branch_b", "--preset", "torchvision/resnet50", "--json"]));
        Assert.Equal("branch_b", inspect.GetProperty("feature_node").GetString());
        Assert.Equal("torchvision/resnet50", inspect.GetProperty("preset").GetString());
        Assert.Equal([4, 32, 32], inspect.GetProperty("feature_shape").EnumerateArray().Select(e => e.GetInt32()));

        ColourImages.Folder(Path.Combine(dir, "colours"), 12, seed: 3, size: 40);
        var model = Path.Combine(dir, "m.zip");
        var run = CliRunner.Run(["train", "--data", Path.Combine(dir, "colours"), "--model", model, "--backbone", graph.Path, "--feature-node", "branch_a",
            "--epochs", "50", "--no-cache", "--json"]);
        var train = LastJson(run);
        Assert.Contains("4 features from branch_a", run.Stderr);
        Assert.True(File.Exists(model));
        Assert.Equal(4, ModelFiles.ReadFeaturizerGraph(model)!.Channels);
    }

    [Fact]
    public async Task Featurize_ThreeProcessesIntoOneCache_LeaveEveryEntrySound()
    {
        // The same images, the same cache folder, three processes at once: every entry is written atomically, so a
        // fourth run finds all of them and none damaged.
        var dir = TestPaths.NewTempDirectory();
        var data = Path.Combine(dir, "data");
        TestImages.LogoFolder(data, 8, seed: 41, size: 96);
        var cache = Path.Combine(dir, "cache");
        var runs = Enumerable.Range(0, 3)
            .Select(_ => Task.Run(() => CliRunner.Run(["featurize", "--data", data, "--cache", cache, "--json"])))
            .ToArray();
        foreach (var run in await Task.WhenAll(runs))
        {
            Assert.True(run.ExitCode == 0, run.Stderr);
            Assert.DoesNotContain("damaged", run.Stderr);
        }

        var last = CliRunner.Run(["featurize", "--data", data, "--cache", cache, "--json"]);
        var summary = LastJson(last);
        Assert.Equal(16, summary.GetProperty("cache_hits").GetInt32());
        Assert.Equal(0, summary.GetProperty("featurized").GetInt32());
        Assert.DoesNotContain("warning", last.Stderr);
        Assert.Empty(Directory.GetFiles(cache, "*.tmp", SearchOption.AllDirectories));
    }

    [Fact]
    public void Train_UnwritableModelDestination_FailsBeforeFeaturizing_NamingIt()
    {
        // Running as root, a read-only folder would still be writable: a destination under a file is not, for anyone.
        var file = Path.Combine(TestPaths.NewTempDirectory(), "a-file");
        File.WriteAllText(file, "x");
        var model = Path.Combine(file, "model.zip");
        var run = CliRunner.Run(["train", "--data", fixture.DataDirectory, "--model", model, "--no-cache"]);
        Assert.Equal(2, run.ExitCode);
        Assert.Contains($"Cannot write {model}", run.Stderr);
        Assert.DoesNotContain("featurizing", run.Stderr);
    }

    [Fact]
    public void Train_RemovesTemporaryModelFilesOfDeadRuns_AndKeepsThoseOfLiveOnes()
    {
        var dir = TestPaths.NewTempDirectory();
        int dead = Enumerable.Range(3_000_000, 1000).First(pid => { try { using var p = Process.GetProcessById(pid); return false; } catch (ArgumentException) { return true; } });
        var stale = Path.Combine(dir, $".m.zip.{dead}.{Guid.NewGuid():N}.tmp");
        var live = Path.Combine(dir, $".m.zip.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp"); // this test process runs
        File.WriteAllText(stale, "half a model");
        File.WriteAllText(live, "being written");
        var run = CliRunner.Run(["train", "--data", fixture.DataDirectory, "--split", fixture.SplitFile, "--model", Path.Combine(dir, "m.zip"), "--epochs", "5", "--json"]);
        Assert.True(run.ExitCode == 0, run.Stderr);
        Assert.False(File.Exists(stale));
        Assert.True(File.Exists(live));
        Assert.Contains("removed 1 temporary file(s) an interrupted run left", run.Stderr);
    }

    [Theory]
    [InlineData("rich", 768)]
    [InlineData("twoscales", 1024)]
    public void Train_AccuracyOptions_RecordedInTheZip_WhichAFreshProcessScoresAsStockMLNetDoes(string features, int dimensions)
    {
        var model = Path.Combine(TestPaths.NewTempDirectory(), $"{features}.zip");
        var train = LastJson(CliRunner.Run(["train", "--data", fixture.DataDirectory, "--split", fixture.SplitFile, "--model", model,
            "--features", features, "--augment", "2", "--tta", "2", "--epochs", "40", "--json"]));
        Assert.True(train.GetProperty("accuracy").GetDouble() >= 0.8, $"accuracy {train.GetProperty("accuracy")}");
        var info = LastJson(CliRunner.Run(["info", "--model", model, "--json"]));
        Assert.Equal(dimensions, info.GetProperty("features").GetInt32());
        var record = info.GetProperty("training");
        Assert.Equal(features, record.GetProperty("features").GetString());
        Assert.Equal(2, record.GetProperty("augmented_views").GetInt32());

        // A fresh process (predict) and stock Model.Load here give the same scores.
        var ml = new Microsoft.ML.MLContext(3);
        var loaded = ml.Model.Load(model, out _);
        using var release = loaded as IDisposable;
        using var engine = ml.Model.CreatePredictionEngine<MLNetClassify.Data.LabeledImage, ScoredImage>(loaded);
        var images = fixture.Split.Test.Take(4).ToList();
        var predict = CliRunner.Run(["predict", "--model", model, "--json", "--top", "2", .. images.Select(i => i.ImagePath)]);
        Assert.Equal(0, predict.ExitCode);
        var classes = ModelInfo.Classes(ml, loaded);
        for (int i = 0; i < images.Count; i++)
        {
            var line = JsonDocument.Parse(predict.StdoutLines[i]).RootElement;
            var stock = engine.Predict(new MLNetClassify.Data.LabeledImage(images[i].ImagePath, "")).Score;
            foreach (var top in line.GetProperty("top").EnumerateArray())
                Assert.Equal(stock[classes.ToList().IndexOf(top.GetProperty("label").GetString()!)], top.GetProperty("score").GetSingle(), 1e-5);
        }
    }

    [Fact]
    public void Retrain_WritesANewZip_ThatRecordsWhereItCameFrom()
    {
        var output = Path.Combine(TestPaths.NewTempDirectory(), "retrained.zip");
        var run = LastJson(CliRunner.Run(["retrain", "--model", fixture.ModelPath, "--data", fixture.DataDirectory, "--split", fixture.SplitFile,
            "--out", output, "--epochs", "20", "--json"]));
        Assert.True(run.GetProperty("accuracy").GetDouble() >= 0.8, $"accuracy {run.GetProperty("accuracy")}");
        var info = LastJson(CliRunner.Run(["info", "--model", output, "--json"]));
        Assert.Equal(Path.GetFullPath(fixture.ModelPath), info.GetProperty("training").GetProperty("retrained_from").GetString());
        Assert.Equal(ModelFiles.ReadFeaturizerGraph(fixture.ModelPath)!.Graph, ModelFiles.ReadFeaturizerGraph(output)!.Graph);

        // Other classes entirely: the old ones are named as left out, the new ones as starting from zero.
        var colours = Path.Combine(TestPaths.NewTempDirectory(), "colours");
        ColourImages.Folder(colours, 6, seed: 4, size: 48);
        var swapped = CliRunner.Run(["retrain", "--model", fixture.ModelPath, "--data", colours, "--out", Path.Combine(TestPaths.NewTempDirectory(), "c.zip"), "--epochs", "5"]);
        Assert.True(swapped.ExitCode == 0, swapped.Stderr);
        Assert.Contains("class 'logo' of the old model has no training image here", swapped.Stderr);
        Assert.Contains("class 'other' of the old model has no training image here", swapped.Stderr);
        Assert.Contains("new classes (their weights start from zero): blue, green, red", swapped.Stderr);

        var missing = CliRunner.Run(["retrain", "--model", Path.Combine(TestPaths.NewTempDirectory(), "none.zip"), "--data", fixture.DataDirectory, "--out", output]);
        Assert.Equal(2, missing.ExitCode);
        Assert.Contains("none.zip", missing.Stderr);
    }

    [Fact]
    public void Export_ScoringZip_HasTheImagePathAsItsOnlyInput()
    {
        var output = Path.Combine(TestPaths.NewTempDirectory(), "scoring.zip");
        var run = LastJson(CliRunner.Run(["export", "--model", fixture.ModelPath, "--scoring-zip", output, "--json"]));
        Assert.Equal(Path.GetFullPath(output), run.GetProperty("scoring_zip").GetString());
        new Microsoft.ML.MLContext(1).Model.Load(output, out var schema);
        Assert.Equal(["ImagePath"], schema.Select(c => c.Name));

        var neither = CliRunner.Run(["export", "--model", fixture.ModelPath]);
        Assert.Equal(2, neither.ExitCode);
        Assert.Contains("--scoring-zip", neither.Stderr);
    }
}

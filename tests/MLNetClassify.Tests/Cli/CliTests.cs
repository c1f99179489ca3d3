using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text.Json;

namespace MLNetClassify.Tests.Cli;

[Collection(LogoModelCollection.Name)]
public class CliTests(LogoModelFixture fixture)
{
    private static JsonElement LastJson(CliRunner.Result run)
    {
        Assert.True(run.ExitCode == 0, $"exit {run.ExitCode}: {run.Stderr}");
        return JsonDocument.Parse(run.StdoutLines[^1]).RootElement;
    }

    [Theory]
    [InlineData("train", "--data", "--model", "--split", "--test-fraction", "--seed", "--epochs", "--backbone", "--feature-node", "--input-size", "--features", "--augment", "--tta", "--label-smoothing", "--weights", "--precision", "--cache", "--no-cache", "--device", "--require-device", "--tf32", "--allow-empty-classes", "--allow-outside-paths", "--report", "--json")]
    [InlineData("baselines", "--data", "--split", "--slp-size", "--mlp-size", "--hidden", "--sigmoid", "--models", "--json")]
    [InlineData("bench", "--data", "--split", "--limit", "--precision", "--json")]
    [InlineData("featurize", "--data", "--shard", "--merge", "--cache", "--backbone", "--feature-node", "--input-size", "--weights", "--precision", "--json")]
    [InlineData("retrain", "--model", "--data", "--out", "--split", "--test-fraction", "--seed", "--epochs", "--augment", "--tta", "--cache", "--no-cache", "--device", "--tf32", "--json")]
    [InlineData("codegen", "--model", "--out", "--name", "--web", "--json")]
    [InlineData("explain", "--model", "--out", "--class", "--json", "images")]
    [InlineData("export", "--model", "--onnx", "--scoring-zip", "--json")]
    [InlineData("info", "--model", "--json")]
    [InlineData("evaluate", "--model", "--data", "--split", "--allow-outside-paths", "--report", "--device", "--require-device", "--tf32", "--cache", "--no-cache", "--row-by-row", "--tta", "--json")]
    [InlineData("predict", "--model", "--top", "--shard", "--out", "--merge", "--device", "--require-device", "--json", "paths")]
    [InlineData("gpu-check", "--images", "--device", "--batch", "--compare", "--max-relative-l2", "--json")]
    [InlineData("demo", "--dir", "--images-per-class", "--seed", "--json")]
    public void Help_EveryVerb_ListsItsOptions(string verb, params string[] options)
    {
        var run = CliRunner.Run([verb, "--help"]);
        Assert.Equal(0, run.ExitCode);
        foreach (var option in options)
            Assert.Contains(option, run.Stdout);
    }

    [Fact]
    public void Bench_SmallSet_ReportsEveryFigure_AndTheRetrainReadsEveryImageFromTheCache()
    {
        var run = LastJson(CliRunner.Run(["bench", "--data", fixture.DataDirectory, "--split", fixture.SplitFile, "--limit", "16", "--json"]));
        foreach (var key in new[]
        {
            "ours_featurize_images_per_s", "peer_featurize_images_per_s", "raw_ort_images_per_s", "featurize_ratio", "ours_predict_ms",
            "peer_predict_ms", "predict_latency_ratio", "ours_peak_rss_mib", "peer_peak_rss_mib", "cached_rerun_ratio", "ours_zip_bytes", "peer_zip_bytes",
        })
            Assert.True(run.GetProperty(key).GetDouble() > 0, key);
        Assert.Equal(16, run.GetProperty("images").GetInt32());
        // The cached retrain's speed is a measurement (docs); what the test asserts is why it is fast: every training
        // image's features came from the cache the first training wrote.
        Assert.Equal(run.GetProperty("retrain_images").GetInt32(), run.GetProperty("retrain_cache_hits").GetInt32());
        Assert.True(run.GetProperty("retrain_images").GetInt32() > 0);
        // Float16 weight storage: about half of ML.NET's zip, which holds the same ResNet18 in float32.
        Assert.True(run.GetProperty("ours_zip_bytes").GetDouble() < 0.6 * run.GetProperty("peer_zip_bytes").GetDouble(), run.ToString());
    }

    [Fact]
    public void TrainEvaluatePredict_Json_HaveTheDocumentedKeysAndAgree()
    {
        var dir = TestPaths.NewTempDirectory();
        var model = Path.Combine(dir, "cli-model.zip");
        var train = LastJson(CliRunner.Run(["train", "--data", fixture.DataDirectory, "--split", fixture.SplitFile, "--model", model, "--epochs", "40", "--json"]));
        foreach (var key in new[] { "accuracy", "macro_accuracy", "log_loss", "train_images", "test_images", "classes", "featurize_images_per_s", "seconds" })
            Assert.True(train.TryGetProperty(key, out _), $"train JSON lacks {key}");
        Assert.Equal(fixture.Split.Train.Count, train.GetProperty("train_images").GetInt32());
        Assert.Equal(fixture.Split.Test.Count, train.GetProperty("test_images").GetInt32());
        Assert.Equal(["logo", "other"], train.GetProperty("classes").EnumerateArray().Select(c => c.GetString()));
        Assert.True(train.GetProperty("accuracy").GetDouble() >= 0.8);
        Assert.True(train.GetProperty("featurize_images_per_s").GetDouble() > 0);
        Assert.True(File.Exists(model));

        // The saved model, scored row by row by stock ML.NET, gives the metrics train measured in batches.
        var evaluate = LastJson(CliRunner.Run(["evaluate", "--model", model, "--data", fixture.DataDirectory, "--split", fixture.SplitFile, "--row-by-row", "--json"]));
        Assert.False(evaluate.GetProperty("batched").GetBoolean());
        Assert.Equal(train.GetProperty("accuracy").GetDouble(), evaluate.GetProperty("accuracy").GetDouble(), 1e-9);
        Assert.Equal(train.GetProperty("log_loss").GetDouble(), evaluate.GetProperty("log_loss").GetDouble(), 1e-4);
        Assert.Equal(fixture.Split.Test.Count, evaluate.GetProperty("test_images").GetInt32());
        // The zip does not record its training images: evaluate says so with null, not a made-up 0.
        Assert.Equal(JsonValueKind.Null, evaluate.GetProperty("train_images").ValueKind);

        // By default evaluate runs the zip's own featurizer graph in batches through the cache train filled: every test
        // image is a hit, and the saved head on those features gives the row-by-row metrics.
        var cached = LastJson(CliRunner.Run(["evaluate", "--model", model, "--data", fixture.DataDirectory, "--split", fixture.SplitFile, "--json"]));
        Assert.True(cached.GetProperty("batched").GetBoolean());
        Assert.Equal(fixture.Split.Test.Count, cached.GetProperty("cache_hits").GetInt32());
        Assert.Equal(evaluate.GetProperty("accuracy").GetDouble(), cached.GetProperty("accuracy").GetDouble(), 1e-9);
        Assert.Equal(evaluate.GetProperty("log_loss").GetDouble(), cached.GetProperty("log_loss").GetDouble(), 1e-4);

        var folder = Path.Combine(fixture.DataDirectory, "logo");
        var predict = CliRunner.Run(["predict", "--model", model, "--json", "--top", "1", folder]);
        Assert.Equal(0, predict.ExitCode);
        Assert.Equal(Directory.GetFiles(folder).Length, predict.StdoutLines.Count);
        foreach (var line in predict.StdoutLines)
        {
            var p = JsonDocument.Parse(line).RootElement;
            Assert.StartsWith(folder, p.GetProperty("path").GetString());
            Assert.Contains(p.GetProperty("label").GetString(), new[] { "logo", "other" });
            var top = p.GetProperty("top").EnumerateArray().ToList();
            Assert.Single(top);
            Assert.Equal(p.GetProperty("score").GetSingle(), top[0].GetProperty("score").GetSingle());
            Assert.Equal(p.GetProperty("label").GetString(), top[0].GetProperty("label").GetString());
        }
    }

    [Fact]
    public void Train_Int8_SavesASmallerModel_ThatStockMLNetReloadsWithTheSameMetrics()
    {
        var model = Path.Combine(TestPaths.NewTempDirectory(), "int8.zip");
        var train = LastJson(CliRunner.Run(["train", "--data", fixture.DataDirectory, "--split", fixture.SplitFile, "--model", model, "--precision", "int8", "--epochs", "40", "--json"]));
        Assert.Equal("int8", train.GetProperty("precision").GetString());
        Assert.True(train.GetProperty("accuracy").GetDouble() >= 0.8, $"accuracy {train.GetProperty("accuracy")}");
        // int8 weights (the float32 stem and first stage aside): well under the 29.9 MB of the float16-stored default.
        Assert.True(new FileInfo(model).Length < 20_000_000, $"{new FileInfo(model).Length} bytes");

        // Another process, stock ML.NET row by row (the QDQ graph rides in the zip): the metrics train measured in batches.
        var evaluate = LastJson(CliRunner.Run(["evaluate", "--model", model, "--data", fixture.DataDirectory, "--split", fixture.SplitFile, "--row-by-row", "--json"]));
        Assert.Equal(train.GetProperty("accuracy").GetDouble(), evaluate.GetProperty("accuracy").GetDouble(), 1e-9);
        Assert.Equal(train.GetProperty("log_loss").GetDouble(), evaluate.GetProperty("log_loss").GetDouble(), 1e-3);
    }

    [Fact]
    public void Evaluate_WithoutSplit_ScoresEveryImage()
    {
        var run = LastJson(CliRunner.Run(["evaluate", "--model", fixture.ModelPath, "--data", fixture.DataDirectory, "--json"]));
        Assert.Equal(fixture.Images.Count, run.GetProperty("test_images").GetInt32());
    }

    [Fact]
    public void Train_MissingDataFolder_ExitsWithMessageNamingIt()
    {
        var missing = Path.Combine(TestPaths.NewTempDirectory(), "no-such-folder");
        var run = CliRunner.Run(["train", "--data", missing, "--model", Path.Combine(missing, "m.zip")]);
        Assert.Equal(2, run.ExitCode);
        Assert.Contains(missing, run.Stderr);
        Assert.False(File.Exists(Path.Combine(missing, "m.zip")));
    }

    [Fact]
    public void Predict_UnreadableFile_IsReportedAndOthersArePredicted()
    {
        var bad = Path.Combine(TestPaths.NewTempDirectory(), "bad.jpg");
        File.WriteAllText(bad, "text, not an image");
        var good = fixture.Split.Test[0].ImagePath;
        var run = CliRunner.Run(["predict", "--model", fixture.ModelPath, "--json", bad, good]);
        Assert.Equal(0, run.ExitCode);
        Assert.Contains(bad, run.Stderr);
        var lines = run.StdoutLines.Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.True(lines[0].TryGetProperty("error", out _));
        Assert.Equal(good, lines[1].GetProperty("path").GetString());
    }

    [SkippableFact]
    public void Train_Interrupted_LeavesNoModelBehind()
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "sends SIGINT through libc");
        var dir = TestPaths.NewTempDirectory();
        // Enough images that featurizing (~50 img/s on 2 cores) outlasts the signal's delivery: the fixture's small
        // set could finish training first, and the test would then see a model, not an interrupt.
        var data = Path.Combine(TestPaths.NewTempDirectory(), "logo");
        TestImages.LogoFolder(data, perClass: 150, seed: 5, size: 160);
        var model = Path.Combine(dir, "interrupted.zip");
        // env --default-signal=INT: a test run started as a background job has SIGINT ignored, and a child inherits that.
        var start = new ProcessStartInfo("env") { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var a in new[] { "--default-signal=INT", "dotnet", Path.Combine(AppContext.BaseDirectory, "mlnet-classify.dll"), "train", "--data", data, "--model", model, "--no-cache" })
            start.ArgumentList.Add(a); // no cache: a warm one would finish before the interrupt
        using var process = Process.Start(start)!;
        _ = process.StandardOutput.ReadToEndAsync();
        // Interrupt once featurization has started.
        while (process.StandardError.ReadLine() is { } line && !line.Contains("featurizing")) { }
        Assert.Equal(0, Kill(process.Id, 2));
        var rest = process.StandardError.ReadToEnd();
        Assert.True(process.WaitForExit(TimeSpan.FromSeconds(60)));
        Assert.NotEqual(0, process.ExitCode);
        Assert.False(File.Exists(model), "an interrupted train must not leave a model");
        Assert.Empty(Directory.GetFiles(dir));
        Assert.Contains("cancelled", rest);
    }

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int pid, int signal);
}

public class DemoTests
{
    [Fact]
    public void Demo_GeneratesItsDataAndReachesTheAccuracyGoal()
    {
        var dir = TestPaths.NewTempDirectory();
        var run = CliRunner.Run(["demo", "--dir", dir, "--json"]);
        Assert.True(run.ExitCode == 0, run.Stderr);
        var result = JsonDocument.Parse(run.StdoutLines[^1]).RootElement;
        Assert.True(result.GetProperty("accuracy").GetDouble() >= 0.95, run.Stdout);
        Assert.Equal(0, result.GetProperty("reload_max_score_difference").GetDouble());
        Assert.Equal(240, Directory.GetFiles(Path.Combine(dir, "logo-vs-other"), "*.jpg", SearchOption.AllDirectories).Length);
        Assert.True(File.Exists(Path.Combine(dir, "logo-model.zip")));
        Assert.Contains("Loaded it in a fresh MLContext", run.Stderr);
        Directory.Delete(dir, recursive: true);
    }
}

using System.Text.Json;
using Microsoft.ML;
using MLNetClassify.Backbones;
using MLNetClassify.Data;
using MLNetClassify.Tests.Backbones;

namespace MLNetClassify.Tests.Cli;

public sealed class BackboneCliTests
{
    internal static JsonElement LastJson(CliRunner.Result run)
    {
        Assert.True(run.ExitCode == 0, $"exit {run.ExitCode}: {run.Stderr}");
        return JsonDocument.Parse(run.StdoutLines[^1]).RootElement;
    }

    [Fact]
    public void Backbones_ListsTheCatalogue_MarkingWhatIsEmbedded()
    {
        var rows = LastJson(CliRunner.Run(["backbones", "--json"])).EnumerateArray().ToList();
        Assert.Equal(BackboneCatalog.All.Count, rows.Count);
        var embedded = Assert.Single(rows, r => r.GetProperty("embedded").GetBoolean());
        Assert.Equal("resnet18-cntk", embedded.GetProperty("name").GetString());
        var inception = rows.Single(r => r.GetProperty("name").GetString() == "torchvision/inception_v3");
        Assert.Equal(299, inception.GetProperty("input_size").GetInt32());
        Assert.StartsWith("needs ", inception.GetProperty("file").GetString());
    }

    [Fact]
    public void Inspect_EmbeddedResNet18_AndAnInceptionGraph_GiveTheDocumentedKeys()
    {
        var resnet = LastJson(CliRunner.Run(["backbones", "inspect", BackboneCatalog.ResNet18.ResolveModelFile(), "--json"]));
        Assert.Equal("Input247", resnet.GetProperty("input").GetProperty("name").GetString());
        Assert.Equal("NCHW", resnet.GetProperty("layout").GetString());
        Assert.Equal("ReLU393_Output_0", resnet.GetProperty("feature_node").GetString());
        Assert.Equal([512, 7, 7], resnet.GetProperty("feature_shape").EnumerateArray().Select(e => e.GetInt32()));

        var dir = TestPaths.NewTempDirectory();
        var keras = FamilyGraphs.KerasNhwc(dir);
        var found = LastJson(CliRunner.Run(["backbones", "inspect", keras.Path, "--json"]));
        Assert.Equal("NHWC", found.GetProperty("layout").GetString());
        Assert.Equal(keras.FeatureNode, found.GetProperty("feature_node").GetString());
        Assert.Equal(JsonValueKind.Null, found.GetProperty("preset").ValueKind);

        // A file named after a preset matches it.
        var named = Path.Combine(dir, "my-resnet50-export.onnx");
        File.Copy(FamilyGraphs.Residual(dir).Path, named);
        Assert.Equal("torchvision/resnet50", LastJson(CliRunner.Run(["backbones", "inspect", named, "--json"])).GetProperty("preset").GetString());
    }

    [Fact]
    public void Inspect_UndecidableGraph_IsAOneLineErrorListingCandidates()
    {
        var f = FamilyGraphs.TwoPooledBranches(TestPaths.NewTempDirectory());
        var run = CliRunner.Run(["backbones", "inspect", f.Path]);
        Assert.Equal(2, run.ExitCode);
        Assert.Contains("branch_a", run.Stderr);
        Assert.Contains("--feature-node", run.Stderr);
    }

    [Fact]
    public void Train_WithAnInceptionGraphFile_TrainsSavesAndThePredictionsReload()
    {
        var dir = TestPaths.NewTempDirectory();
        var inception = FamilyGraphs.Inception(dir);
        var images = ColourImages.Folder(Path.Combine(dir, "colours"), 20, seed: 8, size: 40);
        var model = Path.Combine(dir, "model.zip");
        var train = LastJson(CliRunner.Run(["train", "--data", Path.Combine(dir, "colours"), "--model", model, "--backbone", inception.Path, "--epochs", "600", "--no-cache", "--json"]));
        Assert.Equal(32, train.GetProperty("input_size").GetInt32());
        Assert.True(train.GetProperty("accuracy").GetDouble() >= 0.8, train.ToString());

        // The graph rides inside the zip: delete the file, then predict in a fresh process and here.
        File.Delete(inception.Path);
        var sample = images.Take(6).ToList();
        var predict = CliRunner.Run(["predict", "--model", model, "--top", "3", "--json", .. sample.Select(i => i.ImagePath)]);
        Assert.True(predict.ExitCode == 0, predict.Stderr);
        var ml = new MLContext(1);
        using var engine = ml.Model.CreatePredictionEngine<LabeledImage, ScoredImage>(ml.Model.Load(model, out _));
        for (int i = 0; i < sample.Count; i++)
        {
            var expected = engine.Predict(sample[i]).Score;
            using var line = JsonDocument.Parse(predict.StdoutLines[i]);
            var top = line.RootElement.GetProperty("top").EnumerateArray().ToDictionary(t => t.GetProperty("label").GetString()!, t => t.GetProperty("score").GetSingle());
            for (int k = 0; k < ColourImages.Labels.Length; k++)
                Assert.True(Math.Abs(top[ColourImages.Labels[k]] - expected[k]) <= 1e-5);
        }

        // Class activation maps and the report work for a brought backbone too, from the zip alone.
        var explain = CliRunner.Run(["explain", "--model", model, "--out", Path.Combine(dir, "cams"), "--json", .. sample.Take(2).Select(i => i.ImagePath)]);
        Assert.True(explain.ExitCode == 0, explain.Stderr);
        foreach (var line in explain.StdoutLines.Select(l => JsonDocument.Parse(l).RootElement))
        {
            var values = line.GetProperty("cam").EnumerateArray().SelectMany(r => r.EnumerateArray().Select(v => v.GetDouble())).ToList();
            Assert.True(values.Count > 1);
            double expectedMean = line.GetProperty("logit").GetDouble() - line.GetProperty("bias").GetDouble();
            Assert.Equal(expectedMean, values.Average(), 1e-3 * Math.Max(1, Math.Abs(expectedMean)));
        }
        var report = CliRunner.Run(["evaluate", "--model", model, "--data", Path.Combine(dir, "colours"), "--no-cache", "--report", Path.Combine(dir, "report"), "--json"]);
        Assert.True(report.ExitCode == 0, report.Stderr);
        Assert.Equal(ColourImages.Labels.Length, JsonDocument.Parse(report.StdoutLines[^1]).RootElement.GetProperty("per_class").GetArrayLength());
    }
}

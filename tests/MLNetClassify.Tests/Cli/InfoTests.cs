using System.Text.Json;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetClassify.Data;

namespace MLNetClassify.Tests.Cli;

/// <summary>info: the training record travels in the zip, and stock ML.NET still loads it with no registration.</summary>
[Collection(LogoModelCollection.Name)]
public class InfoTests(LogoModelFixture fixture)
{
    [Fact]
    public void TrainedByTheCli_TheZipSaysHowItWasTrained_AndStockLoadReadsItAsBefore()
    {
        var dir = TestPaths.NewTempDirectory();
        var model = Path.Combine(dir, "m.zip");
        var train = CliRunner.Run(["train", "--data", fixture.DataDirectory, "--split", fixture.SplitFile, "--model", model, "--epochs", "12", "--seed", "3", "--json"]);
        Assert.True(train.ExitCode == 0, train.Stderr);
        var trained = JsonDocument.Parse(train.StdoutLines[^1]).RootElement;

        var info = CliRunner.Run(["info", "--model", model, "--json"]);
        Assert.True(info.ExitCode == 0, info.Stderr);
        var summary = JsonDocument.Parse(info.StdoutLines.Single()).RootElement;
        Assert.Equal(["logo", "other"], summary.GetProperty("classes").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal("resnet18-cntk", summary.GetProperty("backbone").GetString());
        Assert.Equal(224, summary.GetProperty("input_size").GetInt32());
        Assert.True(summary.GetProperty("stock_load").GetBoolean());
        var record = summary.GetProperty("training");
        Assert.Equal(3, record.GetProperty("seed").GetInt32());
        Assert.Equal(12, record.GetProperty("epochs").GetInt32());
        Assert.Equal(Path.GetFullPath(fixture.SplitFile), record.GetProperty("split").GetString());
        Assert.Equal(trained.GetProperty("train_images").GetInt32(), record.GetProperty("train_images").GetInt32());
        Assert.Equal(trained.GetProperty("accuracy").GetDouble(), record.GetProperty("accuracy").GetDouble());
        Assert.Equal(fixture.Split.Train.Count(i => i.Label == "logo"), record.GetProperty("train_images_per_class").GetProperty("logo").GetInt32());
        Assert.StartsWith("MLNetClassify ", record.GetProperty("library").GetString());

        // Stock ML.NET, no registration: the zip loads and scores.
        var ml = new MLContext();
        var loaded = ml.Model.Load(model, out _);
        var scores = loaded.Transform(ImageDataset.ToDataView(ml, fixture.Split.Test.Take(3))).GetColumn<float[]>("Score").ToList();
        Assert.All(scores, s => Assert.Equal(1.0, s.Sum(), 1e-4));
    }

    [Fact]
    public void ZipSavedByAppCode_HasNoRecord_AndInfoSaysSo()
    {
        var json = CliRunner.Run(["info", "--model", fixture.ModelPath, "--json"]);
        Assert.True(json.ExitCode == 0, json.Stderr);
        Assert.Equal(JsonValueKind.Null, JsonDocument.Parse(json.StdoutLines.Single()).RootElement.GetProperty("training").ValueKind);
        var text = CliRunner.Run(["info", "--model", fixture.ModelPath]);
        Assert.Contains("no record", text.Stdout);
    }
}

using System.Text.Json;
using Microsoft.ML;
using Microsoft.ML.OnnxRuntime;
using MLNetClassify.Data;
using MLNetClassify.Tests.Backbones;

namespace MLNetClassify.Tests.Cli;

/// <summary>
/// A vision-transformer-shaped ONNX file (<see cref="FamilyGraphs.VitClassToken"/>: a class token, attention blocks,
/// LayerNormalization, random weights) through the CLI: train, save, reload with stock Model.Load, predict, export,
/// explain.
/// </summary>
public sealed class TransformerCliTests
{
    private static JsonElement LastJson(CliRunner.Result run) => BackboneCliTests.LastJson(run);

    [Fact]
    public void VitShapedFile_TrainsSavesReloadsPredictsAndExports_ChoosingItsPoolingOnValidation()
    {
        var dir = TestPaths.NewTempDirectory();
        var vit = FamilyGraphs.VitClassToken(dir);
        var data = Path.Combine(dir, "colours");
        var images = ColourImages.Folder(data, 20, seed: 8, size: 40);
        var model = Path.Combine(dir, "model.zip");
        var run = CliRunner.Run(["train", "--data", data, "--model", model, "--backbone", vit.Path, "--epochs", "300", "--no-cache", "--json"]);
        var train = LastJson(run);
        var inspected = LastJson(CliRunner.Run(["backbones", "inspect", vit.Path, "--json"]));
        Assert.Equal(("encoder_out", "NTC", 1), (inspected.GetProperty("feature_node").GetString(), inspected.GetProperty("feature_layout").GetString(), inspected.GetProperty("prefix_tokens").GetInt32()));
        Assert.Equal([16, 4, 4], inspected.GetProperty("feature_shape").EnumerateArray().Select(e => e.GetInt32()));
        Assert.Equal(32, train.GetProperty("input_size").GetInt32());
        Assert.True(train.GetProperty("accuracy").GetDouble() >= 0.8, train.ToString());
        // Both candidates were trained and the choice is said, and recorded in the zip.
        Assert.Matches(@"features chosen on validation rows: (average|classtoken) \(validation loss average [0-9.]+, classtoken [0-9.]+\)", run.Stderr);
        var chosen = System.Text.RegularExpressions.Regex.Match(run.Stderr, "features chosen on validation rows: (\\w+)").Groups[1].Value;
        Assert.Equal(chosen, LastJson(CliRunner.Run(["info", "--model", model, "--json"])).GetProperty("training").GetProperty("features").GetString());

        // The graph rides inside the zip: delete the file, then predict in a fresh process and here with stock Model.Load.
        File.Delete(vit.Path);
        var sample = images.Take(6).ToList();
        var predict = CliRunner.Run(["predict", "--model", model, "--top", "3", "--json", .. sample.Select(i => i.ImagePath)]);
        Assert.True(predict.ExitCode == 0, predict.Stderr);
        var ml = new MLContext(1);
        using var engine = ml.Model.CreatePredictionEngine<LabeledImage, ScoredImage>(ml.Model.Load(model, out _));
        var expected = sample.Select(i => engine.Predict(i).Score).ToList();
        for (int i = 0; i < sample.Count; i++)
        {
            using var line = JsonDocument.Parse(predict.StdoutLines[i]);
            var top = line.RootElement.GetProperty("top").EnumerateArray().ToDictionary(t => t.GetProperty("label").GetString()!, t => t.GetProperty("score").GetSingle());
            for (int k = 0; k < ColourImages.Labels.Length; k++)
                Assert.True(Math.Abs(top[ColourImages.Labels[k]] - expected[i][k]) <= 1e-5);
        }

        // The exported ONNX file, on the images' own 40×40 pixels (resized in the graph), gives predict's top-1.
        var onnx = Path.Combine(dir, "model.onnx");
        LastJson(CliRunner.Run(["export", "--model", model, "--onnx", onnx, "--json"]));
        using var session = new InferenceSession(onnx);
        for (int i = 0; i < sample.Count; i++)
        {
            using var outputs = session.Run([NamedOnnxValue.CreateFromTensor("image", Persistence.ExportAgreement.Rgb(sample[i].ImagePath))]);
            Assert.Equal(Array.IndexOf(expected[i], expected[i].Max()), outputs.First(o => o.Name == "predicted_index").AsTensor<long>()[0]);
        }
    }

    [Fact]
    public void Explain_MapsThePatchTokensMean_OnTheGrid_AndRefusesTheClassToken()
    {
        var dir = TestPaths.NewTempDirectory();
        var vit = FamilyGraphs.VitClassToken(dir);
        var data = Path.Combine(dir, "colours");
        var images = ColourImages.Folder(data, 12, seed: 3, size: 40);
        string Train(string features)
        {
            var model = Path.Combine(dir, $"{features}.zip");
            LastJson(CliRunner.Run(["train", "--data", data, "--model", model, "--backbone", vit.Path, "--features", features, "--epochs", "100", "--no-cache", "--json"]));
            return model;
        }

        var average = Train("Average");
        var explain = CliRunner.Run(["explain", "--model", average, "--out", Path.Combine(dir, "cams"), "--json", .. images.Take(2).Select(i => i.ImagePath)]);
        Assert.True(explain.ExitCode == 0, explain.Stderr);
        foreach (var line in explain.StdoutLines.Select(l => JsonDocument.Parse(l).RootElement))
        {
            var rows = line.GetProperty("cam").EnumerateArray().Select(r => r.EnumerateArray().Select(v => v.GetDouble()).ToList()).ToList();
            Assert.Equal(4, rows.Count); // the 4×4 patch grid
            Assert.All(rows, r => Assert.Equal(4, r.Count));
            double expectedMean = line.GetProperty("logit").GetDouble() - line.GetProperty("bias").GetDouble();
            Assert.Equal(expectedMean, rows.SelectMany(r => r).Average(), 1e-3 * Math.Max(1, Math.Abs(expectedMean)));
        }

        var refused = CliRunner.Run(["explain", "--model", Train("ClassToken"), "--out", Path.Combine(dir, "cams2"), images[0].ImagePath]);
        Assert.Equal(2, refused.ExitCode);
        Assert.Contains("class token", refused.Stderr);
    }
}

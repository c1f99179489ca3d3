using System.Text.Json;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetClassify.Backbones;
using MLNetClassify.Data;
using MLNetClassify.Images;
using MLNetClassify.Models;
using MLNetClassify.Training;

namespace MLNetClassify.Tests.Cli;

/// <summary>train --fine-tune: the tuned stage travels in the zip, which stock ML.NET loads and a fresh process scores as training did.</summary>
[Collection(LogoModelCollection.Name)]
public class FineTuneCliTests(LogoModelFixture fixture)
{
    [Fact]
    public void FineTunedZip_CarriesTheTunedStage_AndScoresInAFreshProcessAsTrainingsModelDid()
    {
        var dir = TestPaths.NewTempDirectory();
        var model = Path.Combine(dir, "tuned.zip");
        var train = CliRunner.Run(["train", "--data", fixture.DataDirectory, "--split", fixture.SplitFile, "--model", model, "--fine-tune", "--json"]);
        Assert.True(train.ExitCode == 0, train.Stderr);
        Assert.Contains("fine-tuning the last stage, epoch 1:", train.Stderr);
        var trained = JsonDocument.Parse(train.StdoutLines[^1]).RootElement;
        var record = JsonDocument.Parse(CliRunner.Run(["info", "--model", model, "--json"]).StdoutLines.Single()).RootElement.GetProperty("training");
        Assert.Equal(1, record.GetProperty("fine_tuned_stages").GetInt32());
        Assert.Equal(trained.GetProperty("best_epoch").GetInt32(), record.GetProperty("fine_tune_best_epoch").GetInt32());

        // The tuned stage is in the zip's graph: BatchNormalization folded into its convolutions, so the graph differs
        // from the pretrained one (whose last stage still has them).
        var ml = new MLContext(1);
        var tuned = ClassifierModel.Read(ml, model, "test");
        var pretrained = ClassifierModel.Read(ml, fixture.ModelPath, "test");
        int BatchNorms(byte[] graph) => global::Onnx.ModelProto.Parser.ParseFrom(graph).Graph.Node.Count(n => n.OpType == "BatchNormalization");
        Assert.True(BatchNorms(tuned.Trunk.Graph) < BatchNorms(pretrained.Trunk.Graph));

        // A fresh process's predict, stock Model.Load in this one, and the scoring path training evaluated with: one model.
        var predict = CliRunner.Run(["predict", "--model", model, "--top", "2", "--json", .. fixture.Split.Test.Select(i => i.ImagePath)]);
        Assert.True(predict.ExitCode == 0, predict.Stderr);
        var fresh = predict.StdoutLines.Select(l => JsonDocument.Parse(l).RootElement)
            .ToDictionary(l => l.GetProperty("path").GetString()!, l => l.GetProperty("top").EnumerateArray().ToDictionary(t => t.GetProperty("label").GetString()!, t => t.GetProperty("score").GetDouble()));
        var loaded = ml.Model.Load(model, out _);
        using var release = loaded as IDisposable;
        var stock = loaded.Transform(ImageDataset.ToDataView(ml, fixture.Split.Test)).GetColumn<float[]>("Score").ToList();
        using var scorer = new ClassifierScorer(ml, tuned, model);
        var scored = scorer.Score(fixture.Split.Test.Select(i => ImageSource.FromFile(i.ImagePath)).ToList());
        for (int i = 0; i < fixture.Split.Test.Count; i++)
            for (int k = 0; k < tuned.Classes.Count; k++)
            {
                Assert.Equal(scored.Probabilities[i][k], stock[i][k], 1e-5);
                Assert.Equal(scored.Probabilities[i][k], fresh[fixture.Split.Test[i].ImagePath][tuned.Classes[k]], 1e-5);
            }
        var evaluated = ClassifierWorkflow.EvaluateSaved(ml, model, fixture.Split.Test);
        Assert.Equal(trained.GetProperty("accuracy").GetDouble(), evaluated.Accuracy);
        Assert.Equal(trained.GetProperty("log_loss").GetDouble(), evaluated.LogLoss, 1e-9);
    }

    [Fact]
    public void ABackboneOtherThanResNet18At224_IsRefusedBeforeAnyImageIsRead()
    {
        var options = new ImageClassifierOptions { Backbone = BackboneCatalog.ResNet18AtSize(160), FineTuneStages = 1 };
        var refused = Assert.Throws<UnsuitableInputException>(() => ClassifierWorkflow.Train(new MLContext(1), fixture.Split, options));
        Assert.Contains("cannot be fine-tuned", refused.Message);
        var two = Assert.Throws<UnsuitableInputException>(() => ClassifierWorkflow.Train(new MLContext(1), fixture.Split, new ImageClassifierOptions { FineTuneStages = 2 }));
        Assert.Contains("last stage only", two.Message);
    }
}

using System.Text.Json;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetClassify.Data;
using MLNetClassify.Models;
using MLNetClassify.Tests.Cli;

namespace MLNetClassify.Tests.Persistence;

[Collection(LogoModelCollection.Name)]
public class ModelRoundTripTests(LogoModelFixture fixture)
{
    private static List<ScoredImage> Score(MLContext ml, ITransformer model, IEnumerable<LabeledImage> images)
    {
        using var engine = ml.Model.CreatePredictionEngine<LabeledImage, ScoredImage>(model, new PredictionEngineOptions { OwnsTransformer = false });
        return images.Select(i => engine.Predict(new LabeledImage(i.ImagePath, ""))).ToList();
    }

    [Fact]
    public void SaveLoad_FreshMLContext_PredictionEngineScoresIdentical()
    {
        var before = Score(fixture.MlContext, fixture.Trained.Model, fixture.Split.Test);
        var fresh = new MLContext(123);
        var loaded = fresh.Model.Load(fixture.ModelPath, out var schema);
        var after = Score(fresh, loaded, fixture.Split.Test);

        Assert.Equal(["ImagePath", "Label"], schema.Select(c => c.Name));
        for (int i = 0; i < before.Count; i++)
        {
            Assert.Equal(2, after[i].Score.Length);
            Assert.True(before[i].Score.Zip(after[i].Score, (a, b) => Math.Abs(a - b)).Max() <= 1e-5);
            Assert.Equal(before[i].PredictedLabelValue, after[i].PredictedLabelValue);
            Assert.Equal(1.0, after[i].Score.Sum(), 1e-5);
        }
        // Above chance on held-out images: the model learned the logo.
        double accuracy = after.Zip(fixture.Split.Test, (p, t) => p.PredictedLabelValue == t.Label ? 1.0 : 0.0).Average();
        Assert.True(accuracy >= 0.8, $"held-out accuracy {accuracy:F3}");
    }

    [Fact]
    public void SaveLoad_SecondProcess_ScoresIdentical()
    {
        var inProcess = Score(fixture.MlContext, fixture.Trained.Model, fixture.Split.Test);
        var run = CliRunner.Run(["predict", "--model", fixture.ModelPath, "--top", "2", "--json", .. fixture.Split.Test.Select(i => i.ImagePath)]);
        Assert.Equal(0, run.ExitCode);
        var lines = run.StdoutLines;
        Assert.Equal(fixture.Split.Test.Count, lines.Count);
        var classes = new[] { "logo", "other" };
        for (int i = 0; i < lines.Count; i++)
        {
            using var doc = JsonDocument.Parse(lines[i]);
            var top = doc.RootElement.GetProperty("top").EnumerateArray()
                .ToDictionary(t => t.GetProperty("label").GetString()!, t => t.GetProperty("score").GetSingle());
            for (int k = 0; k < classes.Length; k++)
                Assert.True(Math.Abs(top[classes[k]] - inProcess[i].Score[k]) <= 1e-5, $"{lines[i]} vs {string.Join(",", inProcess[i].Score)}");
            Assert.Equal(inProcess[i].PredictedLabelValue, doc.RootElement.GetProperty("label").GetString());
        }
    }

    [Fact]
    public void Model_OutputsStandardMulticlassColumns_AndEvaluateAcceptsThem()
    {
        var ml = fixture.MlContext;
        var scored = fixture.Trained.Model.Transform(ImageDataset.ToDataView(ml, fixture.Split.Test));
        var score = scored.Schema["Score"];
        Assert.Equal(new VectorDataViewType(NumberDataViewType.Single, 2), score.Type);
        VBuffer<ReadOnlyMemory<char>> names = default;
        score.GetSlotNames(ref names);
        Assert.Equal(["logo", "other"], names.DenseValues().Select(n => n.ToString()));
        Assert.Equal(new KeyDataViewType(typeof(uint), 2), scored.Schema["PredictedLabel"].Type);
        Assert.IsType<TextDataViewType>(scored.Schema["PredictedLabelValue"].Type);

        var metrics = ml.MulticlassClassification.Evaluate(scored, "LabelKey");
        Assert.Equal(fixture.Trained.Test!.Accuracy, metrics.MicroAccuracy, 1e-9);
        Assert.Equal(fixture.Trained.Test!.LogLoss, metrics.LogLoss, 1e-4);
        // Predicted label text and key agree.
        var keys = scored.GetColumn<uint>("PredictedLabel").ToList();
        var text = scored.GetColumn<string>("PredictedLabelValue").ToList();
        Assert.Equal(keys.Select(k => k == 1 ? "logo" : "other"), text);
    }

    [Fact]
    public void AtomicWrite_FailingWriter_LeavesExistingFileAndNoTemporaries()
    {
        var dir = TestPaths.NewTempDirectory();
        var path = Path.Combine(dir, "model.zip");
        File.WriteAllText(path, "old model");
        Assert.Throws<InvalidOperationException>(() => AtomicFile.Write(path, s =>
        {
            s.Write(new byte[1000]);
            throw new InvalidOperationException("disk full");
        }));
        Assert.Equal("old model", File.ReadAllText(path));
        Assert.Equal([path], Directory.GetFiles(dir));
    }

    [Fact]
    public void LoadWithWarmUp_LeavesTheModelUsable_WithTheSameScores()
    {
        var cold = new MLContext(1);
        var expected = Score(cold, ModelFiles.Load(cold, fixture.ModelPath), fixture.Split.Test);
        var warm = new MLContext(1);
        var model = ModelFiles.Load(warm, fixture.ModelPath, warmUp: true);
        // The warm-up's engine borrowed the model: its ONNX session must still be open.
        var actual = Score(warm, model, fixture.Split.Test);
        for (int i = 0; i < expected.Count; i++)
            Assert.True(expected[i].Score.Zip(actual[i].Score, (a, b) => Math.Abs(a - b)).Max() <= 1e-5);
        var again = ModelFiles.Load(warm, fixture.ModelPath, out var schema);
        Assert.True(ModelWarmUp.Run(warm, again, schema));
        // A model that does not take image paths is left alone.
        var empty = warm.Data.LoadFromEnumerable(new[] { new { X = 1f } });
        var plain = warm.Transforms.CopyColumns("Y", "X").Fit(empty);
        Assert.False(ModelWarmUp.Run(warm, plain, empty.Schema));
    }

    [Fact]
    public void Load_NotAModel_ErrorNamesTheFile()
    {
        var path = Path.Combine(TestPaths.NewTempDirectory(), "fake.zip");
        File.WriteAllText(path, "not a zip");
        var e = Assert.Throws<InvalidDataException>(() => ModelFiles.Load(new MLContext(1), path));
        Assert.Contains(path, e.Message);
        Assert.Throws<FileNotFoundException>(() => ModelFiles.Load(new MLContext(1), path + ".missing"));
    }
}

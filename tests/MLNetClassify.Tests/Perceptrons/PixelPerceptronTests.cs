using System.Text.Json;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms;
using MLNetClassify.Data;
using MLNetClassify.Images;
using MLNetClassify.Perceptrons;
using MLNetClassify.Tests.Cli;
using MLNetClassify.Training;

namespace MLNetClassify.Tests.Perceptrons;

/// <summary>Colour images (40×40 PNG, three labels) and their split, made once for the perceptron tests.</summary>
public sealed class ColourDataFixture : IDisposable
{
    public ColourDataFixture()
    {
        Root = TestPaths.NewTempDirectory();
        DataDirectory = Path.Combine(Root, "colours");
        Split = DataSplit.Stratified(ColourImages.Folder(DataDirectory, 30, seed: 4), 0.25, 4);
        SplitFile = Path.Combine(Root, "split.tsv");
        Split.WriteFile(SplitFile, DataDirectory);
    }

    public string Root { get; }
    public string DataDirectory { get; }
    public DataSplit Split { get; }
    public string SplitFile { get; }

    public void Dispose()
    {
        try { Directory.Delete(Root, recursive: true); } catch (IOException) { }
    }
}

public sealed class PixelPerceptronTests(ColourDataFixture data) : IClassFixture<ColourDataFixture>
{
    public static TheoryData<string> Kinds => ["slp", "mlp"];

    private static PerceptronOptions Options(string kind) => kind == "slp"
        ? PerceptronOptions.SingleLayer with { ImageSize = 32 }
        : PerceptronOptions.MultiLayer with { ImageSize = 24, HiddenLayers = [32, 16] };

    [Theory]
    [MemberData(nameof(Kinds))]
    public void TrainPerceptron_LearnsColours_AndReloadsWithIdenticalScores(string kind)
    {
        var ml = new MLContext(1);
        var trained = ClassifierWorkflow.TrainPerceptron(ml, data.Split, Options(kind));
        Assert.True(trained.Test!.Accuracy >= 0.9, $"{kind} test accuracy {trained.Test.Accuracy:F3}");

        var (accuracy, _) = ReloadCheck.SaveLoadAndCompare(ml, trained.Model, trained.InputSchema!, data.Split.Test, ColourImages.Labels, i => i);
        Assert.True(accuracy >= 0.9, $"{kind} accuracy after reload {accuracy:F3}");
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void SavedModel_ScoresEqualThePerceptronsOwnArithmetic(string kind)
    {
        // The stock steps (pixels, ONNX Gemm/Relu, ML.NET's softmax layer) must compute exactly the trained network.
        var ml = new MLContext(1);
        var options = Options(kind);
        var (train, _) = (ImageDataset.ToDataView(ml, data.Split.Train), 0);
        var keyed = ml.Transforms.Conversion.MapValueToKey("Label", "Label", keyOrdinality: ValueToKeyMappingEstimator.KeyOrdinality.ByValue).Fit(train).Transform(train);
        var (fit, perceptron) = ml.ImageClassification().PixelPerceptron(options).FitWithWeights(keyed, null, default);
        using var engine = ml.Model.CreatePredictionEngine<LabeledImage, ScoredImage>(fit.Model);
        using var readers = new PixelReaders(ml, options.ImageSize);
        var pixels = new float[3 * options.ImageSize * options.ImageSize];
        foreach (var image in data.Split.Test.Take(10))
        {
            Assert.Null(readers.TryRead(ImageSource.FromFile(image.ImagePath), pixels));
            var expected = perceptron.Predict(pixels);
            var actual = engine.Predict(image).Score;
            Assert.True(expected.Zip(actual, (a, b) => Math.Abs(a - b)).Max() <= 1e-4, $"{image.ImagePath}: {string.Join(",", expected)} vs {string.Join(",", actual)}");
        }
    }

    [Fact]
    public void PixelPerceptron_InMemoryImages_Train()
    {
        var ml = new MLContext(1);
        var encoded = data.Split.Train.Select(i => ((Stream)new MemoryStream(File.ReadAllBytes(i.ImagePath)), i.Label)).ToList();
        var view = ImageDataset.FromEncodedImages(ml, encoded);
        var keyed = ml.Transforms.Conversion.MapValueToKey("Key", "Label").Fit(view).Transform(view);
        var estimator = ml.ImageClassification().PixelPerceptron(PerceptronOptions.SingleLayer with { LabelColumnName = "Key", ImageColumnName = "Image", ImageSize = 16, Epochs = 30 });
        var model = estimator.Fit(keyed);
        var scored = model.Transform(keyed);
        var metrics = ml.MulticlassClassification.Evaluate(scored, "Key");
        Assert.True(metrics.MicroAccuracy >= 0.9, $"training accuracy {metrics.MicroAccuracy:F3}");
    }

    [Fact]
    public void PixelPerceptron_UnreadableTrainingImage_IsSkippedAndReported()
    {
        var ml = new MLContext(1);
        var bad = Path.Combine(data.Root, "not-an-image.png");
        File.WriteAllText(bad, "plain text");
        var rows = data.Split.Train.Append(new LabeledImage(bad, "red")).ToList();
        var view = ml.Transforms.Conversion.MapValueToKey("Key", nameof(LabeledImage.Label)).Fit(ImageDataset.ToDataView(ml, rows)).Transform(ImageDataset.ToDataView(ml, rows));
        var fit = ml.ImageClassification().PixelPerceptron(PerceptronOptions.SingleLayer with { LabelColumnName = "Key", ImageSize = 16, Epochs = 5 }).FitDetailed(view);
        var skipped = Assert.Single(fit.Images!.Skipped);
        Assert.Equal(bad, skipped.Source);
        Assert.Equal(data.Split.Train.Count, fit.Images.Features.Rows);
    }

    [Fact]
    public void BaselinesCli_PrintsThreeModels_AndItsSavedModelsScoreTheSameInAnotherProcess()
    {
        var models = Path.Combine(data.Root, "models");
        var run = CliRunner.Run(["baselines", "--data", data.DataDirectory, "--split", data.SplitFile, "--slp-size", "32", "--mlp-size", "24",
            "--hidden", "32", "--models", models, "--json"]);
        Assert.True(run.ExitCode == 0, run.Stderr);
        using var doc = JsonDocument.Parse(run.StdoutLines[^1]);
        var rows = doc.RootElement.EnumerateArray().ToList();
        Assert.Equal(["slp", "mlp", "cnn"], rows.Select(r => r.GetProperty("model").GetString()));
        foreach (var row in rows)
        {
            Assert.InRange(row.GetProperty("accuracy").GetDouble(), 0.9, 1.0);
            Assert.True(row.GetProperty("log_loss").GetDouble() > 0);
            Assert.True(row.GetProperty("parameters").GetInt64() > 0);
            Assert.True(row.GetProperty("seconds").GetDouble() > 0);
        }
        Assert.Equal(3L * 32 * 32 * 3 + 3, rows[0].GetProperty("parameters").GetInt64());

        foreach (var name in new[] { "slp", "mlp", "cnn" })
        {
            var path = Path.Combine(models, name + ".zip");
            var ml = new MLContext(1);
            var model = ml.Model.Load(path, out _);
            using var engine = ml.Model.CreatePredictionEngine<LabeledImage, ScoredImage>(model);
            var images = data.Split.Test.Take(6).ToList();
            var predict = CliRunner.Run(["predict", "--model", path, "--top", "3", "--json", .. images.Select(i => i.ImagePath)]);
            Assert.True(predict.ExitCode == 0, predict.Stderr);
            for (int i = 0; i < images.Count; i++)
            {
                var expected = engine.Predict(images[i]).Score;
                using var line = JsonDocument.Parse(predict.StdoutLines[i]);
                var top = line.RootElement.GetProperty("top").EnumerateArray()
                    .ToDictionary(t => t.GetProperty("label").GetString()!, t => t.GetProperty("score").GetSingle());
                for (int k = 0; k < ColourImages.Labels.Length; k++)
                    Assert.True(Math.Abs(top[ColourImages.Labels[k]] - expected[k]) <= 1e-5, $"{name}: {predict.StdoutLines[i]}");
            }
        }

        // A model with no featurizer graph cannot take test-time views: the user's error, exit 2, not "a bug".
        var tta = CliRunner.Run(["evaluate", "--model", Path.Combine(models, "slp.zip"), "--data", data.DataDirectory, "--split", data.SplitFile, "--tta", "2"]);
        Assert.True(tta.ExitCode == 2, tta.Stderr);
        Assert.Contains("test-time augmentation needs a model with an MLNetClassify featurizer graph", tta.Stderr);
        Assert.DoesNotContain("This is a bug", tta.Stderr);
    }

    [SkippableFact]
    public void Baselines_IntelScenes_CnnBeatsMlpByAQuarter_AndMlpBeatsSlp()
    {
        var folder = TestPaths.RequireSharedData("intel-scenes");
        var split = Path.Combine(folder, "..", "splits", "intel-scenes.tsv");
        var run = CliRunner.Run(["baselines", "--data", folder, "--split", split, "--json"]);
        Assert.True(run.ExitCode == 0, run.Stderr);
        using var doc = JsonDocument.Parse(run.StdoutLines[^1]);
        var accuracy = doc.RootElement.EnumerateArray().ToDictionary(r => r.GetProperty("model").GetString()!, r => r.GetProperty("accuracy").GetDouble());
        Assert.True(accuracy["cnn"] >= accuracy["mlp"] + 0.25, run.StdoutLines[^1]);
        Assert.True(accuracy["mlp"] >= accuracy["slp"], run.StdoutLines[^1]);
        Assert.True(accuracy["slp"] > 0.19 + 0.1, $"the single-layer perceptron should beat chance (0.19) clearly: {run.StdoutLines[^1]}");
    }
}

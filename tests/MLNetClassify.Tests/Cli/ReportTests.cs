using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetClassify.Cli.Reports;
using SkiaSharp;

namespace MLNetClassify.Tests.Cli;

/// <summary>evaluate --report and train --report: a self-contained page, its figures, and its numbers checked against ML.NET's.</summary>
[Collection(LogoModelCollection.Name)]
public class ReportTests(LogoModelFixture fixture)
{
    /// <summary>Every src of the page, each an existing PNG of sensible size; no script, no address outside the folder.</summary>
    private static void AssertSelfContained(string page)
    {
        var html = File.ReadAllText(page);
        Assert.DoesNotContain("<script", html, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("http", html, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("<link", html, StringComparison.OrdinalIgnoreCase);
        var sources = Regex.Matches(html, "(?:src|href)=\"([^\"]+)\"").Select(m => m.Groups[1].Value).ToList();
        Assert.NotEmpty(sources);
        foreach (var source in sources)
        {
            var file = Path.Combine(Path.GetDirectoryName(page)!, source);
            Assert.True(File.Exists(file), $"{source} is referenced but missing");
            using var png = SKBitmap.Decode(file);
            Assert.NotNull(png);
            Assert.InRange(png.Width, 100, 4000);
            Assert.InRange(png.Height, 50, 4000);
        }
    }

    [Fact]
    public void EvaluateReport_PerClassFiguresEqualMlNetsOnTheSamePredictions_TopLossesOrderedByLoss()
    {
        var folder = Path.Combine(TestPaths.NewTempDirectory(), "report");
        var ml = new MLContext(1);
        var (figures, predictions) = Report.Write(ml, fixture.ModelPath, fixture.Images, folder, "test");
        AssertSelfContained(figures.Report);
        Assert.Equal(["confusion.png", "index.html", "per-class.png", "top-losses.png"], Directory.GetFiles(folder).Select(Path.GetFileName).Order());

        // ML.NET's own evaluator on the saved model's predictions for the same images (the report's probabilities are
        // the model's scores: same predicted class for every image): its confusion matrix's per-class precision and recall.
        var loaded = ml.Model.Load(fixture.ModelPath, out _);
        var scored = loaded.Transform(MLNetClassify.Data.ImageDataset.ToDataView(ml, predictions.Select(p => p.Image)));
        Assert.Equal(predictions.Select(p => Array.IndexOf(p.Probabilities, p.Probabilities.Max())),
            scored.GetColumn<float[]>("Score").Select(s => Array.IndexOf(s, s.Max())));
        var metrics = ml.MulticlassClassification.Evaluate(scored, MLNetClassify.Training.ClassifierWorkflow.LabelKeyColumn);
        var classes = figures.Confusion.Labels;
        for (int c = 0; c < classes.Count; c++)
        {
            Assert.Equal(metrics.ConfusionMatrix.PerClassPrecision[c], figures.PerClass[c].Precision, 1e-12);
            Assert.Equal(metrics.ConfusionMatrix.PerClassRecall[c], figures.PerClass[c].Recall, 1e-12);
            Assert.Equal(metrics.ConfusionMatrix.Counts[c].Select(v => (int)v), figures.Confusion.Matrix[c]);
        }
        Assert.Equal(fixture.Images.Count, figures.PerClass.Sum(p => p.Support));
        var losses = figures.TopLosses.Select(t => t.Loss).ToList();
        Assert.Equal(losses.OrderByDescending(l => l), losses);
        Assert.All(figures.TopLosses, t => Assert.Equal(-Math.Log(t.Probability), t.Loss, 1e-6));
    }

    [Fact]
    public void TrainReport_AddsTheEpochCurves_AndJsonCarriesTheFigures()
    {
        var dir = TestPaths.NewTempDirectory();
        var run = CliRunner.Run(["train", "--data", fixture.DataDirectory, "--split", fixture.SplitFile, "--model", Path.Combine(dir, "m.zip"),
            "--epochs", "15", "--report", Path.Combine(dir, "report"), "--json"]);
        Assert.True(run.ExitCode == 0, run.Stderr);
        var json = JsonDocument.Parse(run.StdoutLines[^1]).RootElement;
        var page = json.GetProperty("report").GetString()!;
        AssertSelfContained(page);
        Assert.True(File.Exists(Path.Combine(dir, "report", "epochs-loss.png")));
        Assert.Equal(2, json.GetProperty("per_class").GetArrayLength());
        Assert.Equal(["logo", "other"], json.GetProperty("confusion").GetProperty("labels").EnumerateArray().Select(e => e.GetString()));
        int total = json.GetProperty("confusion").GetProperty("matrix").EnumerateArray().Sum(r => r.EnumerateArray().Sum(v => v.GetInt32()));
        Assert.Equal(json.GetProperty("test_images").GetInt32(), total);
        Assert.InRange(json.GetProperty("top_losses").GetArrayLength(), 1, Report.TopLossCount);

        var evaluate = CliRunner.Run(["evaluate", "--model", Path.Combine(dir, "m.zip"), "--data", fixture.DataDirectory, "--split", fixture.SplitFile,
            "--report", Path.Combine(dir, "evaluation"), "--json"]);
        Assert.True(evaluate.ExitCode == 0, evaluate.Stderr);
        var evaluated = JsonDocument.Parse(evaluate.StdoutLines[^1]).RootElement;
        Assert.Equal(json.GetProperty("per_class").ToString(), evaluated.GetProperty("per_class").ToString());
    }
}

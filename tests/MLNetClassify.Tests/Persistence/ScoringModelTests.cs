using Microsoft.ML;
using MLNetClassify.Data;

namespace MLNetClassify.Tests.Persistence;

/// <summary>A saved model whose input is the image column alone.</summary>
[Collection(LogoModelCollection.Name)]
public class ScoringModelTests(LogoModelFixture fixture)
{
    public sealed class PathOnly
    {
        public string ImagePath { get; set; } = "";
    }

    [Fact]
    public void SaveScoringModel_InputIsTheImagePathAlone_AndScoresExactlyAsTheWholeModel()
    {
        var ml = new MLContext(1);
        var path = Path.Combine(TestPaths.NewTempDirectory(), "scoring.zip");
        ml.ImageClassification().SaveScoringModel(fixture.Trained.Model, fixture.Trained.InputSchema!, path);

        var fresh = new MLContext(2);
        var loaded = fresh.Model.Load(path, out var schema);
        using var release = loaded as IDisposable;
        Assert.Equal(["ImagePath"], schema.Select(c => c.Name));
        using var scoring = fresh.Model.CreatePredictionEngine<PathOnly, ScoredImage>(loaded);
        using var whole = ml.Model.CreatePredictionEngine<LabeledImage, ScoredImage>(fixture.Trained.Model, new PredictionEngineOptions { OwnsTransformer = false });
        foreach (var image in fixture.Split.Test)
        {
            var a = scoring.Predict(new PathOnly { ImagePath = image.ImagePath });
            var b = whole.Predict(image);
            Assert.Equal(b.PredictedLabelValue, a.PredictedLabelValue);
            Assert.Equal(b.Score, a.Score);
        }

        // The whole model still needs its Label column (ML.NET's evaluator reads LabelKey from it): the reason both exist.
        var e = Record.Exception(() => ml.Model.CreatePredictionEngine<PathOnly, ScoredImage>(fixture.Trained.Model, new PredictionEngineOptions { OwnsTransformer = false }));
        Assert.NotNull(e);
        Assert.Contains("Label", e!.Message);
    }
}

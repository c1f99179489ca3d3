using Microsoft.ML;
using MLNetClassify.Data;
using MLNetClassify.Models;
using MLNetClassify.Training;
using SkiaSharp;

namespace MLNetClassify.Tests.Training;

[Collection(LogoModelCollection.Name)]
public class TestTimeAugmentationTests(LogoModelFixture fixture)
{
    [Fact]
    public void EvaluateWithTwoViews_AveragesTheProbabilitiesOfTheImageAndOfItsMirrorImage()
    {
        // Expected, independently: the saved model scores each test image and a mirrored copy of its file (PNG, lossless;
        // 224×224, so no resize moves a pixel) through a stock PredictionEngine; the two probability vectors are averaged.
        var dir = TestPaths.NewTempDirectory();
        var ml = new MLContext(1);
        var model = ml.Model.Load(fixture.ModelPath, out _);
        using var release = model as IDisposable;
        var classes = ModelInfo.Classes(ml, model);
        using var engine = ml.Model.CreatePredictionEngine<LabeledImage, ScoredImage>(model);
        double expectedLoss = 0;
        int expectedCorrect = 0;
        var test = fixture.Split.Test;
        foreach (var image in test)
        {
            var mirrored = Path.Combine(dir, Path.GetFileNameWithoutExtension(image.ImagePath) + "-mirrored.png");
            Mirror(image.ImagePath, mirrored);
            var a = engine.Predict(new LabeledImage(image.ImagePath, image.Label)).Score;
            var b = engine.Predict(new LabeledImage(mirrored, image.Label)).Score;
            var mean = a.Zip(b, (x, y) => ((double)x + y) / 2).ToArray();
            int label = classes.ToList().IndexOf(image.Label);
            expectedLoss -= Math.Log(mean[label]);
            if (Array.IndexOf(mean, mean.Max()) == label) expectedCorrect++;
        }

        var tta = ClassifierWorkflow.EvaluateSavedWithViews(ml, model, fixture.ModelPath, test, null, testTimeViews: 2, seed: 1, CancellationToken.None);
        Assert.Equal(test.Count, tta.Images);
        Assert.Equal((double)expectedCorrect / test.Count, tta.Accuracy, 10);
        Assert.Equal(expectedLoss / test.Count, tta.LogLoss, 4);

        // One view is plain evaluation.
        var plain = ClassifierWorkflow.EvaluateSaved(ml, model, fixture.ModelPath, test, null, CancellationToken.None);
        var one = ClassifierWorkflow.EvaluateSavedWithViews(ml, model, fixture.ModelPath, test, null, 1, 1, CancellationToken.None);
        Assert.Equal(plain.LogLoss, one.LogLoss);
    }

    [Fact]
    public void EvaluateWithViews_RefusesAViewCountOutOfRange()
    {
        var ml = new MLContext(1);
        var model = ml.Model.Load(fixture.ModelPath, out _);
        using var release = model as IDisposable;
        Assert.Throws<ArgumentOutOfRangeException>(() => ClassifierWorkflow.EvaluateSavedWithViews(ml, model, fixture.ModelPath, fixture.Split.Test, null, 0, 1, CancellationToken.None));
        Assert.Throws<ArgumentOutOfRangeException>(() => ClassifierWorkflow.EvaluateSavedWithViews(ml, model, fixture.ModelPath, fixture.Split.Test, null, 17, 1, CancellationToken.None));
    }

    private static void Mirror(string source, string destination)
    {
        using var bitmap = SKBitmap.Decode(source);
        using var mirrored = new SKBitmap(bitmap.Info);
        for (int y = 0; y < bitmap.Height; y++)
            for (int x = 0; x < bitmap.Width; x++)
                mirrored.SetPixel(bitmap.Width - 1 - x, y, bitmap.GetPixel(x, y));
        using var data = mirrored.Encode(SKEncodedImageFormat.Png, 100);
        File.WriteAllBytes(destination, data.ToArray());
    }
}

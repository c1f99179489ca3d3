using System.Text.Json;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetClassify.Cli.Demo;
using MLNetClassify.Data;
using MLNetClassify.Tests.Cli;
using SkiaSharp;

namespace MLNetClassify.Tests.Persistence;

[Collection(LogoModelCollection.Name)]
public class ClassActivationMapTests(LogoModelFixture fixture)
{
    [Fact]
    public void OnHeldOutLogoImages_TheMapsMaximumLiesOnTheLogo_AndItsMeanIsTheLogitMinusBias()
    {
        // The generator knows where it drew each logo; these images were never seen in training.
        LogoDataset.Generate(Path.Combine(TestPaths.NewTempDirectory(), "held-out"), new LogoDatasetOptions { ImagesPerClass = 40, Seed = 77 }, out var boxes);
        var logos = boxes.Keys.Order(StringComparer.Ordinal).ToList();
        var ml = new MLContext(1);
        var maps = ml.ImageClassification().ClassActivationMaps(fixture.ModelPath, logos, "logo");

        var misses = new List<string>();
        foreach (var map in maps)
        {
            Assert.Null(map.Problem);
            Assert.Equal((7, 7), (map.Height, map.Width));
            float cell = 224f / map.Width;
            int best = map.Values.Select((v, i) => (v, i)).MaxBy(p => p.v).i;
            var box = boxes[map.Source];
            box.Inflate(cell, cell); // grown by one feature-map cell
            if (!box.Contains((best % map.Width + 0.5f) * cell, (best / map.Width + 0.5f) * cell))
                misses.Add(Path.GetFileName(map.Source));
            // The identity that makes CAM exact: mean over the map = logit − bias.
            Assert.Equal(map.Logit - map.Bias, map.Values.Average(), 1e-3 * Math.Max(1, Math.Abs(map.Logit - map.Bias)));
        }
        Assert.True(misses.Count <= 0.2 * logos.Count, $"maximum off the logo on {misses.Count} of {logos.Count}: {string.Join(", ", misses)}");
    }

    [Fact]
    public void Probabilities_AreTheSavedModelsScores()
    {
        var ml = new MLContext(1);
        var images = fixture.Split.Test.Take(6).ToList();
        var maps = ml.ImageClassification().ClassActivationMaps(fixture.ModelPath, images.Select(i => i.ImagePath).ToList());
        var loaded = ml.Model.Load(fixture.ModelPath, out _);
        var scores = loaded.Transform(ImageDataset.ToDataView(ml, images)).GetColumn<float[]>("Score").ToList();
        var classes = ml.ImageClassification().ClassNames(loaded);
        for (int i = 0; i < images.Count; i++)
        {
            int predicted = Array.IndexOf(scores[i], scores[i].Max());
            Assert.Equal(classes[predicted], maps[i].Predicted);
            Assert.Equal(scores[i][predicted], maps[i].Probability, 1e-5);
        }
    }

    [Fact]
    public void ExplainCli_WritesAnOverlayPerImage_AndTheMapAsNumbers_AndNamesWhatItCannotDo()
    {
        var dir = TestPaths.NewTempDirectory();
        var bad = Path.Combine(dir, "not-an-image.jpg");
        File.WriteAllText(bad, "text");
        var images = fixture.Split.Test.Take(2).Select(i => i.ImagePath).ToList();
        var run = CliRunner.Run(["explain", "--model", fixture.ModelPath, "--out", Path.Combine(dir, "cams"), "--class", "other", "--json", .. images, bad]);
        Assert.True(run.ExitCode == 0, run.Stderr);
        var lines = run.StdoutLines.Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.Equal(3, lines.Count);
        foreach (var line in lines.Take(2))
        {
            Assert.Equal("other", line.GetProperty("label").GetString());
            Assert.Equal(7, line.GetProperty("cam").GetArrayLength());
            Assert.Equal(7, line.GetProperty("cam")[0].GetArrayLength());
            using var png = SKBitmap.Decode(line.GetProperty("png").GetString());
            Assert.Equal((224, 224), (png.Width, png.Height));
        }
        Assert.Contains("not an image", lines[2].GetProperty("error").GetString());
        Assert.Contains(bad, run.Stderr);

        var unknown = CliRunner.Run(["explain", "--model", fixture.ModelPath, "--out", dir, "--class", "cat", images[0]]);
        Assert.Equal(2, unknown.ExitCode);
        Assert.Contains("'cat' is not a class", unknown.Stderr);
    }
}

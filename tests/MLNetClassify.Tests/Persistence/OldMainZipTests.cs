using System.Globalization;
using Microsoft.ML;
using MLNetClassify.Models;
using MLNetClassify.Serving;

namespace MLNetClassify.Tests.Persistence;

/// <summary>
/// A zip written by main at 2e51c66 (before the classifier model): a small residual backbone built by
/// <c>FamilyGraphs.Residual</c> (cut at block2_out), trained with that commit's CLI on 20 demo images
/// (<c>train --data logo-vs-other --backbone resnet-like.onnx --feature-node block2_out --no-cache</c>), and that
/// CLI's <c>predict --json</c> scores of four images, kept in OldMainZip/.
/// </summary>
public class OldMainZipTests
{
    private static readonly string Folder = Path.Combine(TestPaths.RepoRoot, "tests", "MLNetClassify.Tests", "Persistence", "OldMainZip");
    private static readonly string Zip = Path.Combine(Folder, "old-main-resnet-like.zip");

    /// <summary>The recorded scores: image file → class → probability.</summary>
    private static Dictionary<string, Dictionary<string, float>> Recorded() =>
        File.ReadAllLines(Path.Combine(Folder, "scores.tsv")).Select(l => l.Split('\t')).ToDictionary(
            f => Path.Combine(Folder, f[0]),
            f => f.Skip(1).Select(p => p.Split('=')).ToDictionary(p => p[0], p => float.Parse(p[1], CultureInfo.InvariantCulture)));

    [Fact]
    public void StockModelLoad_ScoresAsThatMainDid_BitForBit()
    {
        var ml = new MLContext(1);
        var model = ml.Model.Load(Zip, out var schema); // stock ML.NET, no registration
        using var release = model as IDisposable;
        using var engine = new DecodedImageScorer(ml, model, inputSchema: schema); // the path predict took then
        var classes = ModelInfo.Classes(ml, model);
        foreach (var (image, expected) in Recorded())
        {
            var scores = engine.Score(image).Score!;
            for (int k = 0; k < classes.Count; k++)
                Assert.Equal(expected[classes[k]], scores[k]);
        }
    }

    [Fact]
    public void TheClassifierModel_ThePoolAndTheScorer_GiveThoseScores_Within1e5()
    {
        var ml = new MLContext(1);
        var model = ClassifierModel.Read(ml, Zip, "test");
        Assert.Equal(["logo", "other"], model.Classes.Order());
        Assert.Equal(8, model.Trunk.Channels);
        var recorded = Recorded();
        using var scorer = new ClassifierScorer(ml, model, Zip);
        var images = recorded.Keys.ToList();
        var scored = scorer.Score(images.Select(MLNetClassify.Images.ImageSource.FromFile).ToList());
        using var pool = ml.ImageClassification().CreatePool(Zip, maxEngines: 2);
        for (int i = 0; i < images.Count; i++)
        {
            var fromPool = pool.Predict(images[i]);
            for (int k = 0; k < model.Classes.Count; k++)
            {
                float expected = recorded[images[i]][model.Classes[k]];
                Assert.True(Math.Abs(scored.Probabilities[i][k] - expected) <= 1e-5, $"{images[i]}: scorer {scored.Probabilities[i][k]}, recorded {expected}");
                Assert.True(Math.Abs(fromPool.Scores[k] - expected) <= 1e-5, $"{images[i]}: pool {fromPool.Scores[k]}, recorded {expected}");
            }
        }
    }
}

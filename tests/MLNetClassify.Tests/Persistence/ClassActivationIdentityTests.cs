using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Trainers;
using MLNetClassify.Data;

namespace MLNetClassify.Tests.Persistence;

/// <summary>
/// The identity that makes class activation maps exact — the mean of class k's map plus k's bias is k's logit — checked
/// against the saved model itself: its probabilities as stock ML.NET computes them (Model.Load in a fresh MLContext,
/// Transform) and its biases read from ML.NET's softmax layer, never the mapper's own pooling or logits.
/// </summary>
[Collection(LogoModelCollection.Name)]
public class ClassActivationIdentityTests(LogoModelFixture fixture)
{
    /// <summary>
    /// On log-probability ratios, absolute. Both sides run the same saved featurizer graph; the maps come from the
    /// batched featurizer and ML.NET's scores row by row, so only the arithmetic order differs (features within 1e-5
    /// relative L2, ImageFeaturizerTests). Measured on the 2-core AMD EPYC development machine, 2026-12-04: largest
    /// log-ratio difference 5.5e-7 and probability difference 1.2e-7 over 8 images × 2 classes. Broken on purpose, a
    /// mapper that read the head's weights in reverse channel order missed a log-ratio by 1.8e-2, and one that left the
    /// bias out of its logits missed a saved probability by 1.5e-3.
    /// </summary>
    private const double LogitTolerance = 1e-4;

    /// <summary>On probabilities, absolute.</summary>
    private const double ProbabilityTolerance = 1e-5;

    private static IEnumerable<ITransformer> Steps(ITransformer model) =>
        model is IEnumerable<ITransformer> chain ? chain.SelectMany(Steps) : [model];

    [Fact]
    public void MapMeanPlusBias_GivesTheSavedModelsLogRatiosAndProbabilities()
    {
        var images = fixture.Split.Test.Take(8).ToList();
        var paths = images.Select(i => i.ImagePath).ToList();

        // Independent side: stock ML.NET in a fresh context.
        var fresh = new MLContext(3);
        var loaded = fresh.Model.Load(fixture.ModelPath, out _);
        var scores = loaded.Transform(ImageDataset.ToDataView(fresh, images)).GetColumn<float[]>("Score").ToList();
        var biases = Steps(loaded).OfType<MulticlassPredictionTransformer<MaximumEntropyModelParameters>>().Single().Model.GetBiases().ToArray();
        var classes = fresh.ImageClassification().ClassNames(loaded);
        Assert.Equal(classes.Count, biases.Length);

        // The maps, one call per class, through the public API.
        var ml = new MLContext(1);
        var maps = classes.Select(c => ml.ImageClassification().ClassActivationMaps(fixture.ModelPath, paths, c)).ToList();

        double worstRatio = 0, worstProbability = 0;
        for (int i = 0; i < images.Count; i++)
        {
            var logits = new double[classes.Count];
            for (int k = 0; k < classes.Count; k++)
            {
                var map = maps[k][i];
                Assert.Null(map.Problem);
                Assert.Equal(classes[k], map.Label);
                Assert.Equal(biases[k], map.Bias); // the bias the map reports is the saved layer's, bit for bit
                logits[k] = map.Values.Average(v => (double)v) + biases[k];
            }
            // Softmax is unchanged by a constant added to every logit, so the saved scores fix the logits' differences.
            for (int k = 0; k < classes.Count; k++)
                for (int j = 0; j < k; j++)
                {
                    double saved = Math.Log(scores[i][k]) - Math.Log(scores[i][j]);
                    double fromMaps = logits[k] - logits[j];
                    worstRatio = Math.Max(worstRatio, Math.Abs(saved - fromMaps));
                    Assert.True(Math.Abs(saved - fromMaps) <= LogitTolerance,
                        $"{paths[i]}: log(p[{classes[k]}]/p[{classes[j]}]) is {saved:F5} in the saved model, {fromMaps:F5} from the maps");
                }
            double max = logits.Max(), total = logits.Sum(z => Math.Exp(z - max));
            for (int k = 0; k < classes.Count; k++)
            {
                double probability = Math.Exp(logits[k] - max) / total;
                worstProbability = Math.Max(worstProbability, Math.Abs(probability - scores[i][k]));
                // The probability the map reports is the saved model's too.
                Assert.Equal(scores[i][k], maps[k][i].Probability, ProbabilityTolerance);
            }
        }
        Console.WriteLine($"CAM identity against the saved model, {images.Count} images × {classes.Count} classes: "
            + $"largest log-ratio difference {worstRatio:E2}, largest probability difference {worstProbability:E2}");
        Assert.True(worstProbability <= ProbabilityTolerance, $"softmax of the maps' logits differs from the saved probabilities by {worstProbability:E2}");
    }
}

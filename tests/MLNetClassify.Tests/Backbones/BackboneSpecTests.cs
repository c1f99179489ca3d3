using Microsoft.ML;
using MLNetClassify.Backbones;

namespace MLNetClassify.Tests.Backbones;

/// <summary>A backbone's own preprocessing from app code: channel order, scale, mean, std and layout are public, wired into the graph, and checked.</summary>
public class BackboneSpecTests
{
    private static float[] Features(BackboneSpec spec, string image)
    {
        using var featurizer = new MLContext(1).ImageClassification().CreateFeaturizer(spec);
        return featurizer.Featurize([image]).Features.Row(0).ToArray();
    }

    private static double RelativeL2(float[] a, float[] b) =>
        Math.Sqrt(a.Zip(b, (x, y) => (double)(x - y) * (x - y)).Sum() / a.Sum(x => (double)x * x));

    [Fact]
    public void Normalisation_WrittenTwoWays_GivesTheSameFeatures_AndOrderAndStdReachTheGraph()
    {
        var image = TestImages.LogoFolder(TestPaths.NewTempDirectory(), 1, seed: 5, size: 96)[0].ImagePath;
        // The embedded ResNet18 subtracts CNTK's mean image; without it, the spec's own normalisation is what runs.
        var resnet = BackboneCatalog.ResNet18 with
        {
            MeanImage = null, Weights = WeightStorage.Float32, Order = PixelOrder.Rgb, PixelScale = 1f / 255, Mean = Rgb.ImageNetMean, Std = Rgb.ImageNetStd,
        };
        // (x/255 − m)/s written on the 0–255 scale: (x − 255m)/(255s).
        var same = resnet with
        {
            PixelScale = 1f,
            Mean = new Rgb(255 * Rgb.ImageNetMean.R, 255 * Rgb.ImageNetMean.G, 255 * Rgb.ImageNetMean.B),
            Std = new Rgb(255 * Rgb.ImageNetStd.R, 255 * Rgb.ImageNetStd.G, 255 * Rgb.ImageNetStd.B),
        };
        var reference = Features(resnet, image);
        Assert.True(RelativeL2(Features(same, image), reference) < 1e-5, $"relative L2 {RelativeL2(Features(same, image), reference):E2}");
        Assert.True(RelativeL2(Features(resnet with { Order = PixelOrder.Bgr }, image), reference) > 1e-2, "the channel order did not reach the graph");
        Assert.True(RelativeL2(Features(resnet with { Std = Rgb.One }, image), reference) > 1e-2, "the std did not reach the graph");
    }

    [Theory]
    [InlineData("PixelScale", 0f, 0f)]
    [InlineData("Mean", float.NaN, 1f)]
    [InlineData("Std", 0f, 1f)]
    [InlineData("Std", -1f, 1f)]
    public void OutOfRangePreprocessing_IsRefused_NamingThePropertyAndTheBackbone(string property, float value, float scale)
    {
        var spec = property switch
        {
            "PixelScale" => BackboneCatalog.ResNet18 with { PixelScale = value },
            "Mean" => BackboneCatalog.ResNet18 with { Mean = new Rgb(value, 0, 0), PixelScale = scale / 255 },
            _ => BackboneCatalog.ResNet18 with { Std = new Rgb(1, value, 1) },
        };
        var e = Assert.Throws<ArgumentException>(() => new MLContext(1).ImageClassification().CreateFeaturizer(spec with { Name = "mine" }));
        Assert.StartsWith($"Backbone 'mine': {property} ", e.Message);
    }
}

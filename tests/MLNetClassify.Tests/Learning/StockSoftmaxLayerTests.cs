using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Trainers;
using MLNetClassify.Cli.Commands;
using MLNetClassify.Learning;

namespace MLNetClassify.Tests.Learning;

public class StockSoftmaxLayerTests
{
    private sealed class Row
    {
        [VectorType(4)]
        public float[] Features { get; set; } = [];

        public string Label { get; set; } = "";
    }

    [Fact]
    public void Create_WithLbfgsWeights_ScoresBitForBitLikeMlNetsOwnLbfgsMaximumEntropy()
    {
        // ML.NET's own trainer makes a MaximumEntropyModelParameters; ours, given the same weights, must score identically.
        var ml = new MLContext(1);
        var rng = new Random(3);
        var rows = Enumerable.Range(0, 90).Select(i => new Row
        {
            Label = $"c{i % 3}",
            Features = Enumerable.Range(0, 4).Select(j => (float)(rng.NextDouble() + (j == i % 3 ? 1.5 : 0))).ToArray(),
        }).ToList();
        var data = ml.Data.LoadFromEnumerable(rows);
        var keyed = ml.Transforms.Conversion.MapValueToKey("Key", "Label").Fit(data).Transform(data);
        var lbfgs = ml.MulticlassClassification.Trainers.LbfgsMaximumEntropy("Key", "Features").Fit(keyed);

        VBuffer<float>[] weights = [];
        lbfgs.Model.GetWeights(ref weights, out int classes);
        var flat = weights.SelectMany(w => w.DenseValues()).ToArray();
        var layer = new SoftmaxLayer(flat, lbfgs.Model.GetBiases().ToArray(), 4);
        var ours = StockSoftmaxLayer.Create(ml, layer, keyed.Schema, "Features", "Key");

        Assert.Equal(3, classes);
        var expected = lbfgs.Transform(keyed);
        var actual = ours.Transform(keyed);
        Assert.Equal(expected.GetColumn<float[]>("Score"), actual.GetColumn<float[]>("Score")); // bit for bit
        Assert.Equal(expected.GetColumn<uint>("PredictedLabel"), actual.GetColumn<uint>("PredictedLabel"));
    }

    [Theory]
    [InlineData("5.0.1+abcdef", true)]
    [InlineData("5.0.2", true)]
    [InlineData("6.0.0+0123", true)]
    [InlineData("5.0.0", false)]
    [InlineData("4.0.2", false)]
    [InlineData("6.1.0", false)]
    [InlineData("7.0.0-preview.1", false)]
    [InlineData("not a version", false)]
    public void VersionProblem_AcceptsTheTestedRangeOnly(string version, bool tested)
    {
        var problem = StockSoftmaxLayer.VersionProblem(version);
        if (tested)
            Assert.Null(problem);
        else
            Assert.Contains(StockSoftmaxLayer.TestedVersions, problem);
    }

    [Fact]
    public void TheLoadedMicrosoftMl_IsInTheTestedRange()
    {
        var version = typeof(MaximumEntropyModelParameters).Assembly
            .GetCustomAttributes(typeof(System.Reflection.AssemblyInformationalVersionAttribute), false)
            .Cast<System.Reflection.AssemblyInformationalVersionAttribute>().Single().InformationalVersion;
        Assert.Null(StockSoftmaxLayer.VersionProblem(version));
    }

    [Fact]
    public void FindConstructor_Missing_ThrowsNotSupportedNamingItAndTheTestedVersions()
    {
        var e = Assert.Throws<NotSupportedException>(() => StockSoftmaxLayer.FindConstructor(typeof(Row), [typeof(int), typeof(string)], "Row(int, string)"));
        Assert.Contains("Row(int, string)", e.Message);
        Assert.Contains(StockSoftmaxLayer.TestedVersions, e.Message);
    }
}

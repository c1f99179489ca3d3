using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms;
using MLNetClassify.Data;
using MLNetClassify.Heads;
using MLNetClassify.Perceptrons;
using MLNetClassify.Training;

namespace MLNetClassify.Tests.Training;

/// <summary>
/// Every public estimator of <c>mlContext.ImageClassification()</c> through the <see cref="EstimatorWorkout"/>, and two
/// of ML.NET's own (a transform and a trainer) through the same checks, which shows the checks are ML.NET's conventions.
/// </summary>
public class EstimatorWorkoutTests
{
    public static TheoryData<string> Estimators =>
        ["FeaturizeImages", "FeatureMaps", "GlobalPooling", "SoftmaxHead", "Classifier", "PixelPerceptron", "Stock.NormalizeLpNorm", "Stock.LbfgsMaximumEntropy"];

    [Theory]
    [MemberData(nameof(Estimators))]
    public void Estimator_PassesTheWorkout(string name) => EstimatorWorkout.Run(Case(name));

    private static WorkoutCase Case(string name) => name switch
    {
        "FeaturizeImages" => new((ml, input) => ml.ImageClassification().FeaturizeImages("Features", input), "ImagePath", Images, ImagesWrongType, "Features", 512),
        "FeatureMaps" => new((ml, input) => ml.ImageClassification().FeatureMaps("FeatureMap", input), "ImagePath", Images, ImagesWrongType, "FeatureMap", 512 * 7 * 7),
        "GlobalPooling" => new((ml, input) => ml.ImageClassification().GlobalPooling("Pooled", input), "Map",
            ml => ml.Data.LoadFromEnumerable(MapRows()), ml => ml.Data.LoadFromEnumerable(MapRows().Select(r => new TextMapRow())), "Pooled", MapRow.Channels),
        "SoftmaxHead" => new((ml, input) => ml.ImageClassification().SoftmaxHead(new SoftmaxHeadOptions { LabelColumnName = "LabelKey", FeatureColumnName = input, Epochs = 5 }),
            "Feats", Features, FeaturesWrongType, "Score", 2),
        "Classifier" => new((ml, input) => ml.ImageClassification().Classifier(new ImageClassifierOptions
        {
            LabelColumnName = "LabelKey", ImageColumnName = input, Head = new SoftmaxHeadOptions { Epochs = 5 },
        }), "ImagePath", Images, ImagesWrongType, "Score", 2),
        "PixelPerceptron" => new((ml, input) => ml.ImageClassification().PixelPerceptron(new PerceptronOptions
        {
            LabelColumnName = "LabelKey", ImageColumnName = input, ImageSize = 16, Epochs = 3,
        }), "ImagePath", Images, ImagesWrongType, "Score", 2),
        "Stock.NormalizeLpNorm" => new((ml, input) => ml.Transforms.NormalizeLpNorm("Normalized", input), "Feats", Features, FeaturesWrongType, "Normalized", FeatureRow.Size),
        "Stock.LbfgsMaximumEntropy" => new((ml, input) => ml.MulticlassClassification.Trainers.LbfgsMaximumEntropy("LabelKey", input), "Feats", Features, FeaturesWrongType, "Score", 2),
        _ => throw new ArgumentOutOfRangeException(nameof(name), name, "no such case"),
    };

    /// <summary>Labels mapped to keys, as the trainers need (the transforms pass the key column through).</summary>
    private static IDataView Keyed(MLContext ml, IDataView rows) =>
        ml.Transforms.Conversion.MapValueToKey("LabelKey", "Label", keyOrdinality: ValueToKeyMappingEstimator.KeyOrdinality.ByValue).Fit(rows).Transform(rows);

    // ---- Images: three small generated pictures per class, made once per test run ----

    private static readonly Lazy<IReadOnlyList<LabeledImage>> GeneratedImages = new(() => TestImages.LogoFolder(TestPaths.NewTempDirectory(), 3, seed: 21, size: 64));

    private static IDataView Images(MLContext ml) => Keyed(ml, ImageDataset.ToDataView(ml, GeneratedImages.Value));

    private static IDataView ImagesWrongType(MLContext ml) =>
        Keyed(ml, ml.Data.LoadFromEnumerable(GeneratedImages.Value.Select((image, i) => new NumberImageRow { ImagePath = i, Label = image.Label })));

    public sealed class NumberImageRow
    {
        public float ImagePath { get; set; }
        public string Label { get; set; } = "";
    }

    // ---- Feature vectors: two separable classes ----

    private static IEnumerable<FeatureRow> FeatureRows()
    {
        var rng = new Random(5);
        for (int i = 0; i < 16; i++)
            yield return new FeatureRow
            {
                Label = i % 2 == 0 ? "a" : "b",
                Feats = Enumerable.Range(0, FeatureRow.Size).Select(j => (float)rng.NextDouble() + (i % 2 == 0 && j < 2 ? 2f : 0f)).ToArray(),
            };
    }

    private static IDataView Features(MLContext ml) => Keyed(ml, ml.Data.LoadFromEnumerable(FeatureRows()));

    private static IDataView FeaturesWrongType(MLContext ml) =>
        Keyed(ml, ml.Data.LoadFromEnumerable(FeatureRows().Select(r => new TextFeatureRow { Label = r.Label, Feats = "0 1 2" })));

    public sealed class FeatureRow
    {
        public const int Size = 6;
        public string Label { get; set; } = "";
        [VectorType(Size)] public float[] Feats { get; set; } = [];
    }

    public sealed class TextFeatureRow
    {
        public string Label { get; set; } = "";
        public string Feats { get; set; } = "";
    }

    // ---- Feature maps: C×H×W floats ----

    private static IEnumerable<MapRow> MapRows()
    {
        var rng = new Random(6);
        for (int i = 0; i < 4; i++)
            yield return new MapRow { Map = Enumerable.Range(0, MapRow.Channels * 9).Select(_ => (float)rng.NextDouble()).ToArray() };
    }

    public sealed class MapRow
    {
        public const int Channels = 8;
        [VectorType(Channels, 3, 3)] public float[] Map { get; set; } = [];
    }

    public sealed class TextMapRow
    {
        public string Map { get; set; } = "not a map";
    }
}

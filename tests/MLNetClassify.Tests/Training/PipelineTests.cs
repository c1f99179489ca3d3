using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms;
using MLNetClassify.Data;

namespace MLNetClassify.Tests.Training;

[Collection(LogoModelCollection.Name)]
public class PipelineTests(LogoModelFixture fixture)
{
    /// <summary>
    /// The estimator workout: the estimator's output schema matches what its transformer produces, and the fitted
    /// transformer saved and loaded in a fresh MLContext gives the same <paramref name="scoreColumn"/> values.
    /// </summary>
    private static void Workout<TIn>(MLContext ml, IEstimator<ITransformer> estimator, IDataView train, IReadOnlyList<TIn> probe, string scoreColumn)
        where TIn : class, new()
    {
        var promised = estimator.GetOutputSchema(EstimatorWorkout.ShapeOf(train.Schema));
        var model = estimator.Fit(train);
        var actual = model.GetOutputSchema(train.Schema);
        foreach (var column in promised)
        {
            var real = actual.GetColumnOrNull(column.Name);
            Assert.True(real.HasValue, $"promised column {column.Name} missing");
            var itemType = real.Value.Type is VectorDataViewType v ? v.ItemType : real.Value.Type;
            Assert.Equal(column.ItemType.RawType, itemType.RawType);
        }

        var path = Path.Combine(TestPaths.NewTempDirectory(), "m.zip");
        ml.Model.Save(model, train.Schema, path);
        var fresh = new MLContext(5);
        var loaded = fresh.Model.Load(path, out _);
        var before = model.Transform(ml.Data.LoadFromEnumerable(probe)).GetColumn<float[]>(scoreColumn).ToList();
        var after = loaded.Transform(fresh.Data.LoadFromEnumerable(probe)).GetColumn<float[]>(scoreColumn).ToList();
        Assert.Equal(before.Count, after.Count);
        for (int i = 0; i < before.Count; i++)
            Assert.True(before[i].Zip(after[i], (a, b) => Math.Abs(a - b)).Max() <= 1e-5);
        File.Delete(path);
    }

    [Fact]
    public void Classifier_AppendedInAnMlNetPipeline_FitsAndRoundTrips()
    {
        var ml = new MLContext(1);
        var train = ImageDataset.ToDataView(ml, fixture.Split.Train);
        var pipeline = ml.Transforms.Conversion.MapValueToKey("LabelKey", "Label")
            .Append(ml.ImageClassification().Classifier("LabelKey", "ImagePath"))
            .Append(ml.Transforms.Conversion.MapKeyToValue("PredictedLabelValue", "PredictedLabel"));
        Workout(ml, pipeline, train, fixture.Split.Test.Take(4).ToList(), "Score");

        var model = pipeline.Fit(train);
        var metrics = ml.MulticlassClassification.Evaluate(model.Transform(ImageDataset.ToDataView(ml, fixture.Split.Test)), "LabelKey");
        Assert.True(metrics.MicroAccuracy >= 0.8, $"accuracy {metrics.MicroAccuracy:F3}");
    }

    [Fact]
    public void Classifier_RelativePathsUnderAnImageFolder_TrainBatched_AndTheSavedModelScoresThem()
    {
        // Relative paths resolve against ImageFolder both while training (the batched featurizer) and in the saved
        // model (ML.NET's LoadImages with its folder), which then scores the same relative paths after a reload.
        var ml = new MLContext(1);
        var root = fixture.DataDirectory;
        LabeledImage Relative(LabeledImage i) => new(Path.GetRelativePath(root, i.ImagePath), i.Label);
        var train = ml.Data.LoadFromEnumerable(fixture.Split.Train.Select(Relative).ToList());
        var keys = ml.Transforms.Conversion.MapValueToKey("LabelKey", "Label", keyOrdinality: ValueToKeyMappingEstimator.KeyOrdinality.ByValue).Fit(train);
        var fit = ml.ImageClassification().Classifier("LabelKey", "ImagePath", imageFolder: root).FitDetailed(keys.Transform(train));
        Assert.Empty(fit.Images!.Skipped);
        Assert.Equal(fixture.Split.Train.Count, fit.Images.Features.Rows);

        var model = new TransformerChain<ITransformer>(keys, fit.Model);
        var test = fixture.Split.Test.Select(Relative).ToList();
        Assert.All(test, t => Assert.False(Path.IsPathRooted(t.ImagePath)));
        var (accuracy, _) = ReloadCheck.SaveLoadAndCompare(ml, model, train.Schema, test, ["logo", "other"], i => i);
        Assert.True(accuracy >= 0.8, $"accuracy after reload on relative paths {accuracy:F3}");
    }

    [Fact]
    public void FeaturizeImagesThenSoftmaxHead_ScoresEqualTheTrainedHead()
    {
        var ml = new MLContext(1);
        var train = ImageDataset.ToDataView(ml, fixture.Split.Train.Where((_, i) => i % 3 == 0)); // row-by-row featurization: keep it small
        var head = ml.ImageClassification().SoftmaxHead("LabelKey", "Feats", epochs: 30);
        var pipeline = ml.Transforms.Conversion.MapValueToKey("LabelKey", "Label", keyOrdinality: ValueToKeyMappingEstimator.KeyOrdinality.ByValue)
            .Append(ml.ImageClassification().FeaturizeImages("Feats", "ImagePath"))
            .Append(head);
        var probe = fixture.Split.Test.Take(3).ToList();
        Workout(ml, pipeline, train, probe, "Score");

        var model = pipeline.Fit(train);
        var scored = model.Transform(ml.Data.LoadFromEnumerable(probe));
        var features = scored.GetColumn<float[]>("Feats").ToList();
        var scores = scored.GetColumn<float[]>("Score").ToList();
        // The fitted head is ML.NET's own softmax layer: its weights and biases give the scores as softmax(W·x + b).
        var layer = model.LastTransformer.Model;
        VBuffer<float>[] weights = [];
        layer.GetWeights(ref weights, out int classes);
        var biases = layer.GetBiases().ToArray();
        for (int i = 0; i < probe.Count; i++)
        {
            var expected = Enumerable.Range(0, classes).Select(k => weights[k].DenseValues().Zip(features[i], (w, x) => (double)w * x).Sum() + biases[k]).ToArray();
            double max = expected.Max(), sum = expected.Sum(z => Math.Exp(z - max));
            expected = expected.Select(z => Math.Exp(z - max) / sum).ToArray();
            Assert.True(expected.Zip(scores[i], (a, b) => Math.Abs(a - b)).Max() <= 1e-5);
        }
    }

    [Fact]
    public void Classifier_InMemoryImages_TrainSaveLoadPredict()
    {
        var ml = new MLContext(1);
        var data = ImageDataset.FromEncodedImages(ml, fixture.Split.Train.Select(i => ((Stream)File.OpenRead(i.ImagePath), i.Label)));
        var pipeline = ml.Transforms.Conversion.MapValueToKey("LabelKey", "Label")
            .Append(ml.ImageClassification().Classifier("LabelKey", "Image"));
        var model = pipeline.Fit(data);
        // MapValueToKey by occurrence: the training rows are sorted, so "logo" is the first key.
        var (accuracy, _) = ReloadCheck.SaveLoadAndCompare(ml, model, data.Schema, fixture.Split.Test, ["logo", "other"],
            image => new InMemoryImage { Image = MLImage.CreateFromFile(image.ImagePath) }, input => input.Image!.Dispose());
        Assert.True(accuracy >= 0.8, $"accuracy {accuracy:F3}");
    }

    [Fact]
    public void Classifier_TextLabel_ErrorSaysToMapItToAKey()
    {
        var ml = new MLContext(1);
        var train = ImageDataset.ToDataView(ml, fixture.Split.Train.Take(2).Concat(fixture.Split.Train.TakeLast(2)));
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => ml.ImageClassification().Classifier("Label", "ImagePath").Fit(train));
        Assert.Contains("MapValueToKey", e.Message);
        var keyed = ml.Transforms.Conversion.MapValueToKey("LabelKey", "Label").Fit(train).Transform(train);
        e = Assert.Throws<ArgumentOutOfRangeException>(() => ml.ImageClassification().Classifier("LabelKey", "Picture").Fit(keyed));
        Assert.Contains("'Picture'", e.Message);
    }

    [Fact]
    public void Classifier_AllImagesUnreadable_ErrorNamesOne()
    {
        var ml = new MLContext(1);
        var dir = TestPaths.NewTempDirectory();
        var rows = new[] { "a", "b" }.Select(l => new LabeledImage(Path.Combine(dir, $"{l}.jpg"), l)).ToList();
        foreach (var r in rows) File.WriteAllText(r.ImagePath, "not a jpeg");
        var data = ImageDataset.ToDataView(ml, rows);
        var keyed = ml.Transforms.Conversion.MapValueToKey("LabelKey", "Label").Fit(data).Transform(data);
        var e = Assert.Throws<ArgumentException>(() => ml.ImageClassification().Classifier("LabelKey").Fit(keyed));
        Assert.Contains(rows[0].ImagePath, e.Message);
    }
}

using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms;
using MLNetClassify.Data;
using MLNetClassify.Images;
using MLNetClassify.Models;
using MLNetClassify.Serving;
using MLNetClassify.Training;

namespace MLNetClassify.Tests.Persistence;

/// <summary>
/// The one scoring path (a classifier model's trunk in batches, then its tail) against the saved ML.NET chain, and the
/// one metrics implementation against ML.NET's evaluator.
/// </summary>
[Collection(LogoModelCollection.Name)]
public class ClassifierScorerTests(LogoModelFixture fixture)
{
    /// <summary>The saved chain's Score of every test image, through the path predict and the pool take (PredictionEngine on decoded images).</summary>
    private float[][] ChainScores(MLContext ml, out List<string> labels)
    {
        var model = ModelFiles.Load(ml, fixture.ModelPath, out var schema);
        using var release = model as IDisposable;
        using var scorer = new DecodedImageScorer(ml, model, inputSchema: schema);
        labels = fixture.Split.Test.Select(i => i.Label).ToList();
        return fixture.Split.Test.Select(i => scorer.Score(i.ImagePath).Score!).ToArray();
    }

    [Fact]
    public void Scorer_GivesTheSavedChainsProbabilities_Within1e5()
    {
        var ml = new MLContext(1);
        var expected = ChainScores(ml, out _);
        var model = ClassifierModel.Read(ml, fixture.ModelPath, "test");
        using var scorer = new ClassifierScorer(ml, model, fixture.ModelPath);
        var scored = scorer.Score(fixture.Split.Test.Select(i => ImageSource.FromFile(i.ImagePath)).ToList());
        Assert.Equal(Enumerable.Range(0, expected.Length), scored.SourceIndices);
        double worst = 0;
        for (int i = 0; i < expected.Length; i++)
            for (int k = 0; k < expected[i].Length; k++)
                worst = Math.Max(worst, Math.Abs(expected[i][k] - scored.Probabilities[i][k]));
        Assert.True(worst <= 1e-5, $"largest probability difference {worst:E2}");
    }

    [Fact]
    public void ThePool_ScoresAClassifierZipThroughOneSharedScorer_AsTheSavedChain_Within1e5_FromFourThreads()
    {
        var ml = new MLContext(1);
        var expected = ChainScores(ml, out _);
        var paths = fixture.Split.Test.Select(i => i.ImagePath).ToList();
        using var pool = ml.ImageClassification().CreatePool(fixture.ModelPath, maxEngines: 4);
        var worst = new double[4];
        Parallel.For(0, 4, t =>
        {
            for (int n = 0; n < 3 * paths.Count; n++)
            {
                int i = (n + 5 * t) % paths.Count;
                var scores = pool.Predict(paths[i]).Scores;
                for (int k = 0; k < scores.Count; k++)
                    worst[t] = Math.Max(worst[t], Math.Abs(scores[k] - expected[i][k]));
            }
        });
        Assert.True(worst.Max() <= 1e-5, $"largest probability difference {worst.Max():E2}");
        Assert.Equal(1, pool.EnginesCreated); // one scorer, one ONNX Runtime session, for every thread
    }

    [Fact]
    public void Metrics_EqualMlNetsEvaluator_OnTheSameScores()
    {
        var ml = new MLContext(1);
        var model = ModelFiles.Load(ml, fixture.ModelPath);
        using var release = model as IDisposable;
        var scored = model.Transform(ImageDataset.ToDataView(ml, fixture.Split.Test));
        var theirs = ml.MulticlassClassification.Evaluate(scored, ClassifierWorkflow.LabelKeyColumn);
        var classes = ModelInfo.Classes(ml, model);
        var scores = scored.GetColumn<float[]>("Score").ToList();
        var labels = scored.GetColumn<string>(nameof(LabeledImage.Label)).Select(l => classes.ToList().IndexOf(l)).ToList();
        // A class no image has, and a row whose true class got probability 0: the clamps and the macro mean's classes.
        var withEmpty = classes.Append("absent").ToList();
        var ours = ClassificationMetrics.Of(scores, labels, classes);
        Assert.Equal(theirs.MicroAccuracy, ours.Accuracy);
        Assert.Equal(theirs.MacroAccuracy, ours.MacroAccuracy, 1e-15);
        Assert.Equal(theirs.LogLoss, ours.LogLoss, 1e-12);
        for (int t = 0; t < classes.Count; t++)
            for (int p = 0; p < classes.Count; p++)
                Assert.Equal(theirs.ConfusionMatrix.Counts[t][p], ours.Confusion[t][p]);
        var padded = ClassificationMetrics.Of(scores.Select(s => s.Append(0f).ToArray()).ToList(), labels, withEmpty);
        Assert.Equal(ours.MacroAccuracy, padded.MacroAccuracy);
    }

    [Fact]
    public void AChainWithAnotherStepBetweenFeaturesAndHead_IsNotReadAsAClassifierModel_AndIsEvaluatedRowByRow()
    {
        var ml = new MLContext(1);
        var train = ImageDataset.ToDataView(ml, fixture.Split.Train);
        var pipeline = ml.Transforms.Conversion.MapValueToKey(ClassifierWorkflow.LabelKeyColumn, "Label", keyOrdinality: ValueToKeyMappingEstimator.KeyOrdinality.ByValue)
            .Append(ml.ImageClassification().FeaturizeImages("Raw", "ImagePath"))
            .Append(ml.Transforms.NormalizeMinMax("Features", "Raw"))
            .Append(ml.ImageClassification().SoftmaxHead(ClassifierWorkflow.LabelKeyColumn, "Features", epochs: 20));
        var path = Path.Combine(TestPaths.NewTempDirectory(), "normalized.zip");
        ml.ImageClassification().SaveModel(pipeline.Fit(train), train.Schema, path);
        Assert.NotNull(ModelFiles.ReadFeaturizerGraph(path));

        var refused = Assert.Throws<InvalidDataException>(() => ClassifierModel.Read(ml, path, "test"));
        Assert.True(refused.Message.Contains("Normaliz", StringComparison.Ordinal), refused.Message);
        var saved = ClassifierWorkflow.EvaluateSaved(ml, path, fixture.Split.Test);
        var rowByRow = ClassifierWorkflow.Evaluate(ml, ModelFiles.Load(ml, path), fixture.Split.Test);
        Assert.False(saved.Batched);
        Assert.Equal(rowByRow.Accuracy, saved.Accuracy);
        Assert.Equal(rowByRow.LogLoss, saved.LogLoss);

        // The pool scores such a zip through ML.NET's engines over its own chain, as the row-by-row path does.
        var loaded = ModelFiles.Load(ml, path, out var schema);
        using var engine = new DecodedImageScorer(ml, loaded, inputSchema: schema);
        using var pool = ml.ImageClassification().CreatePool(path, maxEngines: 2);
        foreach (var image in fixture.Split.Test.Take(4))
            Assert.Equal(engine.Score(image.ImagePath).Score, pool.Predict(image.ImagePath).Scores);
    }
}

/// <summary>The ML.NET chain generated from a classifier model, saved and read back.</summary>
[Collection(LogoModelCollection.Name)]
public class ClassifierChainTests(LogoModelFixture fixture)
{
    [Fact]
    public void TheChainGeneratedFromTheModel_LoadsWithStockModelLoad_AndScoresAsTheTrainedZipBitForBit()
    {
        var model = ClassifierModel.Read(new MLContext(1), fixture.ModelPath, "test");
        var path = Path.Combine(TestPaths.NewTempDirectory(), "generated.zip");
        ModelFiles.Save(new MLContext(2), model, path);

        // Read back: the record written from the model is the model, and ML.NET's entries say the same.
        var recorded = ClassifierModel.TryReadRecorded(path)!;
        var throughMlNet = ClassifierModel.ReadThroughMlNet(new MLContext(3), path, "test");
        foreach (var read in new[] { recorded, throughMlNet })
        {
            Assert.Equal(model.Classes, read.Classes);
            Assert.Equal(model.Tail.Weights, read.Tail.Weights);
            Assert.Equal(model.Tail.Bias, read.Tail.Bias);
            Assert.Equal(model.Trunk.Graph, read.Trunk.Graph);
        }

        // Stock load in a fresh context, as an app would: the same scores and labels as the zip training wrote.
        var images = ImageDataset.ToDataView(new MLContext(4), fixture.Split.Test);
        float[][] Scores(string zip, out string[] labels)
        {
            var ml = new MLContext(5);
            var loaded = ml.Model.Load(zip, out _);
            using var release = loaded as IDisposable;
            var scored = loaded.Transform(images);
            labels = scored.GetColumn<string>(ClassifierWorkflow.PredictedLabelValueColumn).ToArray();
            return scored.GetColumn<float[]>("Score").ToArray();
        }
        var expected = Scores(fixture.ModelPath, out var expectedLabels);
        var actual = Scores(path, out var actualLabels);
        Assert.Equal(expectedLabels, actualLabels);
        for (int i = 0; i < expected.Length; i++)
            Assert.Equal(expected[i], actual[i]);
    }
}

using Microsoft.ML;
using Microsoft.ML.Transforms;
using MLNetClassify.Data;
using MLNetClassify.Featurization;
using MLNetClassify.Models;
using MLNetClassify.Training;

namespace MLNetClassify.Tests.Training;

[Collection(LogoModelCollection.Name)]
public class EvaluateSavedTests(LogoModelFixture fixture)
{
    [Fact]
    public void EvaluateSaved_RunsTheZipsFeaturizerThroughTheCache_AndMatchesRowByRowScoring()
    {
        var ml = new MLContext(1);
        var rowByRow = ClassifierWorkflow.Evaluate(ml, ModelFiles.Load(ml, fixture.ModelPath), fixture.Split.Test);
        Assert.False(rowByRow.Batched);

        var options = new FeaturizerOptions { CacheDirectory = TestPaths.NewTempDirectory() };
        var first = ClassifierWorkflow.EvaluateSaved(ml, fixture.ModelPath, fixture.Split.Test, options);
        var second = ClassifierWorkflow.EvaluateSaved(new MLContext(2), fixture.ModelPath, fixture.Split.Test, options);
        Assert.True(first.Batched);
        Assert.Equal(0, first.CacheHits);
        Assert.Equal(fixture.Split.Test.Count, second.CacheHits);
        foreach (var batched in new[] { first, second })
        {
            Assert.Equal(rowByRow.Images, batched.Images);
            Assert.Equal(rowByRow.Accuracy, batched.Accuracy, 1e-9);
            Assert.Equal(rowByRow.MacroAccuracy, batched.MacroAccuracy, 1e-9);
            Assert.Equal(rowByRow.LogLoss, batched.LogLoss, 1e-4);
        }
    }

    [Fact]
    public void EvaluateSaved_ZipWithoutOneFeaturizerGraph_FallsBackToRowByRow_WithTheSameMetrics()
    {
        // A feature-map + global-pooling model has two ONNX steps: no single featurizer graph to batch, so
        // EvaluateSaved scores through the loaded model row by row, as Evaluate does.
        var ml = new MLContext(1);
        var train = ImageDataset.ToDataView(ml, fixture.Split.Train.Where((_, i) => i % 2 == 0));
        var pipeline = ml.Transforms.Conversion.MapValueToKey(ClassifierWorkflow.LabelKeyColumn, "Label", keyOrdinality: ValueToKeyMappingEstimator.KeyOrdinality.ByValue)
            .Append(ml.ImageClassification().FeatureMaps("Map"))
            .Append(ml.ImageClassification().GlobalPooling("Features", "Map"))
            .Append(ml.ImageClassification().SoftmaxHead(ClassifierWorkflow.LabelKeyColumn, "Features", epochs: 30));
        var path = Path.Combine(TestPaths.NewTempDirectory(), "gap.zip");
        ml.ImageClassification().SaveModel(pipeline.Fit(train), train.Schema, path);
        Assert.Null(ModelFiles.ReadFeaturizerGraph(path)); // two ONNX entries

        var saved = ClassifierWorkflow.EvaluateSaved(ml, path, fixture.Split.Test, new FeaturizerOptions { CacheDirectory = TestPaths.NewTempDirectory() });
        var rowByRow = ClassifierWorkflow.Evaluate(ml, ModelFiles.Load(ml, path), fixture.Split.Test);
        Assert.False(saved.Batched);
        Assert.Equal(0, saved.CacheHits);
        Assert.Equal(rowByRow.Images, saved.Images);
        Assert.Equal(rowByRow.Accuracy, saved.Accuracy, 1e-9);
        Assert.Equal(rowByRow.LogLoss, saved.LogLoss, 1e-9);
    }

    [Fact]
    public void ReadFeaturizerGraph_FindsTheGraphTrainBuilt_WithItsInputSizeAndFeatureCount()
    {
        var saved = ModelFiles.ReadFeaturizerGraph(fixture.ModelPath);
        Assert.NotNull(saved);
        Assert.Equal(MLNetClassify.Backbones.BackboneCatalog.ResNet18.Name, saved.BackboneName);
        Assert.Equal(224, saved.InputSize);
        Assert.Equal(512, saved.Channels);
        // Byte for byte the graph the featurizer (and so the cache's folder key) is built from.
        Assert.Equal(MLNetClassify.Backbones.FeaturizerGraph.Build(MLNetClassify.Backbones.BackboneCatalog.ResNet18), saved.Graph);
    }

    [Fact]
    public void Evaluate_RowByRow_LeavesOutAndNamesFilesThatCannotBeDecoded_DecodingEachOnce()
    {
        var dir = TestPaths.NewTempDirectory();
        var text = Path.Combine(dir, "notes.jpg");
        File.WriteAllText(text, "not an image");
        var cut = Path.Combine(dir, "cut.jpg");
        File.WriteAllBytes(cut, File.ReadAllBytes(fixture.Split.Test[0].ImagePath)[..400]);
        var images = fixture.Split.Test.Append(new LabeledImage(text, "logo")).Append(new LabeledImage(cut, "other")).ToList();

        var ml = new MLContext(1);
        var summary = ClassifierWorkflow.Evaluate(ml, ModelFiles.Load(ml, fixture.ModelPath), images);
        Assert.Equal(fixture.Split.Test.Count, summary.Images);
        Assert.Equal([(images.Count - 2, text), (images.Count - 1, cut)], summary.Skipped.Select(s => (s.Index, s.Source)));
        Assert.Contains("not an image", summary.Skipped[0].Reason);
        Assert.Contains("incomplete image data", summary.Skipped[1].Reason);
        var clean = ClassifierWorkflow.Evaluate(ml, ModelFiles.Load(ml, fixture.ModelPath), fixture.Split.Test);
        Assert.Equal(clean.Accuracy, summary.Accuracy, 1e-12);
    }
}

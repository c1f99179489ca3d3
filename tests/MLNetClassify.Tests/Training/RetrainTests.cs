using Microsoft.ML;
using MLNetClassify.Data;
using MLNetClassify.Featurization;
using MLNetClassify.Heads;
using MLNetClassify.Models;
using MLNetClassify.Training;

namespace MLNetClassify.Tests.Training;

/// <summary>Warm-start retraining: the old graph as it is, the old head as the start, new classes learnt.</summary>
public class RetrainTests
{
    private static (string Old, DataSplit Three, string Cache) OldModelOnTwoColours()
    {
        var dir = TestPaths.NewTempDirectory();
        var images = ColourImages.Folder(Path.Combine(dir, "data"), 16, seed: 21, size: 64);
        var three = DataSplit.Stratified(images, 0.25, 3);
        var two = new DataSplit(three.Train.Where(i => i.Label != "red").ToList(), three.Test.Where(i => i.Label != "red").ToList());
        var cache = Path.Combine(dir, "cache");
        var ml = new MLContext(1);
        var options = new ImageClassifierOptions { Featurizer = new FeaturizerOptions { CacheDirectory = cache }, Head = new SoftmaxHeadOptions { Epochs = 30 } };
        var trained = ClassifierWorkflow.Train(ml, two, options);
        var old = Path.Combine(dir, "old.zip");
        ModelFiles.Save(ml, trained.Model, trained.InputSchema!, old, trainedImages: trained.TrainedImages);
        return (old, three, cache);
    }

    [Fact]
    public void Retrain_WithANewClass_KeepsTheOldGraph_ReusesCachedFeatures_AndLearnsTheClass()
    {
        var (old, three, cache) = OldModelOnTwoColours();
        var ml = new MLContext(1);
        var retrained = ClassifierWorkflow.Retrain(ml, old, three,
            new ImageClassifierOptions { Featurizer = new FeaturizerOptions { CacheDirectory = cache }, Head = new SoftmaxHeadOptions { Epochs = 30 } });
        Assert.Equal(["blue", "green", "red"], retrained.Classes);
        // The blue and green training images were featurized for the old model with the same graph: read from the cache.
        Assert.Equal(three.Train.Count(i => i.Label != "red"), retrained.Images!.CacheHits);
        Assert.True(retrained.Test!.Accuracy >= 0.9, $"accuracy {retrained.Test.Accuracy:F3}");

        var path = Path.Combine(Path.GetDirectoryName(old)!, "new.zip");
        ModelFiles.Save(ml, retrained.Model, retrained.InputSchema!, path);
        Assert.Equal(ModelFiles.ReadFeaturizerGraph(old)!.Graph, ModelFiles.ReadFeaturizerGraph(path)!.Graph);
        // Stock ML.NET reads it and predicts the new class.
        var loaded = new MLContext(2).Model.Load(path, out _);
        using var release = loaded as IDisposable;
        using var engine = new MLContext(2).Model.CreatePredictionEngine<LabeledImage, ScoredImage>(loaded);
        var red = three.Test.Where(i => i.Label == "red").ToList();
        Assert.True(red.Count(i => engine.Predict(i).PredictedLabelValue == "red") >= red.Count - 1);
    }

    [Fact]
    public void Retrain_StartsFromTheSavedHead()
    {
        // One epoch at a vanishing learning rate moves nothing: a warm start with the same classes predicts as the old
        // model with its weights and biases halved (the shrink, SoftmaxHeadOptions.WarmStartShrink): probabilities
        // proportional to the square roots of the old ones. A cold start (zero weights) would give every class the same.
        var (old, three, _) = OldModelOnTwoColours();
        var two = new DataSplit(three.Train.Where(i => i.Label != "red").ToList(), three.Test.Where(i => i.Label != "red").ToList());
        var ml = new MLContext(1);
        var frozen = new SoftmaxHeadOptions { Epochs = 1, LearningRate = 1e-9f, ValidationFraction = 0 };
        var retrained = ClassifierWorkflow.Retrain(ml, old, two, new ImageClassifierOptions { Head = frozen });
        var before = ml.Model.Load(old, out _);
        using var release = before as IDisposable;
        using var a = ml.Model.CreatePredictionEngine<LabeledImage, ScoredImage>(before);
        using var b = ml.Model.CreatePredictionEngine<LabeledImage, ScoredImage>(retrained.Model);
        double farthestFromUniform = 0;
        foreach (var image in two.Test)
        {
            var p = a.Predict(image).Score;
            var q = b.Predict(image).Score;
            farthestFromUniform = Math.Max(farthestFromUniform, q.Max() - 0.5);
            double norm = p.Sum(v => Math.Sqrt(v));
            for (int k = 0; k < p.Length; k++)
                Assert.Equal(Math.Sqrt(p[k]) / norm, q[k], 1e-3);
        }
        Assert.True(farthestFromUniform > 0.1, $"every probability within {farthestFromUniform:F3} of ½: the old model learnt nothing to start from");
    }

    [Fact]
    public void Retrain_FromAZipWithoutAFeaturizerGraph_SaysSo()
    {
        var dir = TestPaths.NewTempDirectory();
        var notAModel = Path.Combine(dir, "model.zip");
        File.WriteAllText(notAModel, "not a zip");
        var split = DataSplit.Stratified(ColourImages.Folder(Path.Combine(dir, "data"), 4, size: 32), 0.25, 1);
        var e = Record.Exception(() => ClassifierWorkflow.Retrain(new MLContext(1), notAModel, split));
        Assert.True(e is InvalidDataException, e?.ToString());
        Assert.Contains(notAModel, e!.Message);
    }

    [Fact]
    public void TheZipListsItsTrainingImagesByContent_AndStockLoadStillReadsIt()
    {
        var (old, three, _) = OldModelOnTwoColours();
        var listed = ModelFiles.ReadTrainedImages(old)!;
        var trainedOn = three.Train.Where(i => i.Label != "red").ToList();
        Assert.Equal(trainedOn.Select(i => ModelFiles.TrainedImageKey(i.ImagePath)).ToHashSet(), listed);
        // By content: a copy elsewhere under another name is the same image.
        var copy = Path.Combine(TestPaths.NewTempDirectory(), "renamed.png");
        File.Copy(trainedOn[0].ImagePath, copy);
        Assert.Contains(ModelFiles.TrainedImageKey(copy), listed);
        Assert.DoesNotContain(ModelFiles.TrainedImageKey(three.Train.First(i => i.Label == "red").ImagePath), listed);
        Assert.True(ClassifierWorkflow.ReadForRetraining(new MLContext(1), old).TrainedImages!.SetEquals(listed));
        var loaded = new MLContext(1).Model.Load(old, out _);
        (loaded as IDisposable)?.Dispose();
        Assert.Null(ModelFiles.ReadTrainedImages(CopyWithoutTheList(old)));
    }

    private static string CopyWithoutTheList(string zip)
    {
        var copy = Path.Combine(TestPaths.NewTempDirectory(), "stock.zip");
        File.Copy(zip, copy);
        using var archive = System.IO.Compression.ZipFile.Open(copy, System.IO.Compression.ZipArchiveMode.Update);
        archive.GetEntry(ModelFiles.TrainedImagesEntry)!.Delete();
        return copy;
    }
}

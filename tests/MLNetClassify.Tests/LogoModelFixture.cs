using Microsoft.ML;
using MLNetClassify.Data;
using MLNetClassify.Learning;
using MLNetClassify.Models;
using MLNetClassify.Training;

namespace MLNetClassify.Tests;

/// <summary>One small Logo-vs-Other data set and a model trained and saved on it, shared by the tests that need them.</summary>
public sealed class LogoModelFixture : IDisposable
{
    public LogoModelFixture()
    {
        Root = TestPaths.NewTempDirectory();
        DataDirectory = Path.Combine(Root, "logo-vs-other");
        Images = TestImages.LogoFolder(DataDirectory, 24, seed: 11);
        Split = DataSplit.Stratified(Images, 0.25, 11);
        SplitFile = Path.Combine(Root, "split.tsv");
        Split.WriteFile(SplitFile, DataDirectory);
        MlContext = new MLContext(1);
        Trained = ClassifierWorkflow.Train(MlContext, Split);
        ModelPath = Path.Combine(Root, "model.zip");
        ModelFiles.Save(MlContext, Trained.Model, Trained.InputSchema!, ModelPath);
    }

    public string Root { get; }
    public string DataDirectory { get; }
    public IReadOnlyList<LabeledImage> Images { get; }
    public DataSplit Split { get; }
    public string SplitFile { get; }
    public MLContext MlContext { get; }
    public TrainingResult<ITransformer> Trained { get; }
    public string ModelPath { get; }

    public void Dispose()
    {
        try { Directory.Delete(Root, recursive: true); } catch (IOException) { }
    }
}

[CollectionDefinition(Name)]
public sealed class LogoModelCollection : ICollectionFixture<LogoModelFixture>
{
    public const string Name = "logo model";
}

/// <summary>Scores as PredictionEngine returns them.</summary>
public sealed class ScoredImage
{
    public float[] Score { get; set; } = [];
    public string PredictedLabelValue { get; set; } = "";
}

/// <summary>The save → load-in-a-fresh-MLContext → same-scores check that several tests make.</summary>
internal static class ReloadCheck
{
    private static readonly PredictionEngineOptions Borrowed = new() { OwnsTransformer = false };

    /// <summary>
    /// Saves <paramref name="model"/>, loads it in a fresh MLContext, scores every image with both (asserting the
    /// scores agree to 1e-5), and returns the fraction whose highest score is the image's label, and the loaded model.
    /// </summary>
    /// <param name="classes">Label names in the model's key order.</param>
    /// <param name="toInput">Makes the engine input for an image.</param>
    /// <param name="release">Frees what <paramref name="toInput"/> made, if anything.</param>
    public static (double Accuracy, ITransformer Loaded) SaveLoadAndCompare<TIn>(MLContext ml, ITransformer model, DataViewSchema schema, IReadOnlyList<LabeledImage> images,
        string[] classes, Func<LabeledImage, TIn> toInput, Action<TIn>? release = null)
        where TIn : class, new()
    {
        var path = Path.Combine(TestPaths.NewTempDirectory(), "model.zip");
        ml.Model.Save(model, schema, path);
        var fresh = new MLContext(7);
        var loaded = fresh.Model.Load(path, out _);
        using var before = ml.Model.CreatePredictionEngine<TIn, ScoredImage>(model, Borrowed);
        using var after = fresh.Model.CreatePredictionEngine<TIn, ScoredImage>(loaded, Borrowed);
        int correct = 0;
        foreach (var image in images)
        {
            var input = toInput(image);
            var a = before.Predict(input);
            var b = after.Predict(input);
            release?.Invoke(input);
            Assert.True(a.Score.Zip(b.Score, (x, y) => Math.Abs(x - y)).Max() <= 1e-5, $"{image.ImagePath}: scores changed after reload");
            if (classes[Array.IndexOf(b.Score, b.Score.Max())] == image.Label) correct++;
        }
        File.Delete(path);
        return ((double)correct / images.Count, loaded);
    }
}

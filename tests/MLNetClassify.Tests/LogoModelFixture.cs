using Microsoft.ML;
using MLNetClassify.Data;
using MLNetClassify.Persistence;
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
        ModelFiles.Save(MlContext, Trained.Model, Trained.InputSchema, ModelPath);
    }

    public string Root { get; }
    public string DataDirectory { get; }
    public IReadOnlyList<LabeledImage> Images { get; }
    public DataSplit Split { get; }
    public string SplitFile { get; }
    public MLContext MlContext { get; }
    public TrainedClassifier Trained { get; }
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

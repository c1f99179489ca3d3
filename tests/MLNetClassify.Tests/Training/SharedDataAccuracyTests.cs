using Microsoft.ML;
using MLNetClassify.Data;
using MLNetClassify.Training;
using Xunit.Abstractions;

namespace MLNetClassify.Tests.Training;

/// <summary>
/// Accuracy and log-loss on the shared image sets with their split files must beat what ML.NET's documented path
/// (DnnFeaturizeImage ResNet18 + LbfgsMaximumEntropy, same weights, same split) scores there, as docs/accuracy.md and
/// the README's headline figures say: accuracy at least ML.NET's, log-loss lower.
/// </summary>
public class SharedDataAccuracyTests(ITestOutputHelper output)
{
    [SkippableTheory]
    [InlineData("flowers-200", 0.825, 0.534)]
    [InlineData("brick-cracks", 0.957, 0.117)]
    [InlineData("cifar10-100", 0.635, 1.297)]
    [InlineData("intel-scenes", 0.914, 0.295)]
    public void Train_SharedSplit_AtLeastMlNetAccuracy_AndLowerLogLoss(string set, double mlNetAccuracy, double mlNetLogLoss)
    {
        var data = TestPaths.RequireSharedData(set);
        var split = DataSplit.ReadFile(Path.Combine(TestPaths.SharedData!, "splits", $"{set}.tsv"), data);
        var trained = ClassifierWorkflow.Train(new MLContext(1), split);
        var test = trained.Test!;
        Assert.Empty(test.Skipped);
        Assert.Equal(split.Test.Count, test.Images);
        output.WriteLine($"{set}: accuracy {test.Accuracy:F4} (ML.NET {mlNetAccuracy}), log-loss {test.LogLoss:F4} (ML.NET {mlNetLogLoss})");
        Assert.True(test.Accuracy >= mlNetAccuracy, $"{set}: accuracy {test.Accuracy:F3} < ML.NET's {mlNetAccuracy}");
        Assert.True(test.LogLoss < mlNetLogLoss, $"{set}: log-loss {test.LogLoss:F3} is not below ML.NET's {mlNetLogLoss}");

        // The report (train --report, evaluate --report) on the same test images from the saved zip: the same accuracy.
        var ml = new MLContext(1);
        var model = Path.Combine(TestPaths.NewTempDirectory(), "model.zip");
        MLNetClassify.Models.ModelFiles.Save(ml, trained.Model, trained.InputSchema!, model);
        var (figures, _) = MLNetClassify.Cli.Reports.Report.Write(ml, model, split.Test, Path.Combine(Path.GetDirectoryName(model)!, "report"), set);
        Assert.Equal(trained.Classes, figures.Confusion.Labels);
        double accuracy = figures.PerClass.Sum(p => p.Recall * p.Support) / figures.PerClass.Sum(p => p.Support);
        Assert.Equal(test.Accuracy, accuracy, 1.0 / split.Test.Count); // at most one borderline image apart
        Assert.True(File.Exists(figures.Report));
    }
}

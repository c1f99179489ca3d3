using Microsoft.ML;
using MLNetClassify.Data;
using MLNetClassify.Training;

namespace MLNetClassify.Tests.Training;

/// <summary>
/// Accuracy on the shared image sets with their split files must reach what ML.NET's documented path
/// (DnnFeaturizeImage ResNet18 + LbfgsMaximumEntropy, same weights, same split) scores there.
/// </summary>
public class SharedDataAccuracyTests
{
    [SkippableTheory]
    [InlineData("flowers-200", 0.825, 0.534)]
    [InlineData("brick-cracks", 0.957, 0.117)]
    [InlineData("cifar10-100", 0.635, 1.297)]
    [InlineData("intel-scenes", 0.914, 0.295)]
    public void Train_SharedSplit_AtLeastMlNetAccuracy(string set, double mlNetAccuracy, double mlNetLogLoss)
    {
        var data = TestPaths.RequireSharedData(set);
        var split = DataSplit.ReadFile(Path.Combine(TestPaths.SharedData!, "splits", $"{set}.tsv"), data);
        var trained = ClassifierWorkflow.Train(new MLContext(1), split);
        var test = trained.Test!;
        Assert.Empty(test.Skipped);
        Assert.Equal(split.Test.Count, test.Images);
        Assert.True(test.Accuracy >= mlNetAccuracy, $"{set}: accuracy {test.Accuracy:F3} < ML.NET's {mlNetAccuracy}");
        // Log-loss is reported, with a loose ceiling: calibration should not be far off ML.NET's.
        Assert.True(test.LogLoss <= mlNetLogLoss * 1.25, $"{set}: log-loss {test.LogLoss:F3} vs ML.NET's {mlNetLogLoss}");
    }
}

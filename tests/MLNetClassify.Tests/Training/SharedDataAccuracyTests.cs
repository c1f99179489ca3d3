using Microsoft.ML;
using MLNetClassify.Data;
using MLNetClassify.Training;
using Xunit.Abstractions;

namespace MLNetClassify.Tests.Training;

/// <summary>
/// Accuracy and log-loss on the shared image sets with their split files must beat what ML.NET's documented path
/// (DnnFeaturizeImage ResNet18 + LbfgsMaximumEntropy, same weights, same split) scores there, as the README says:
/// accuracy at least ML.NET's, log-loss lower.
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
    }
}

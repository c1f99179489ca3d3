using Microsoft.ML;
using MLNetClassify.Backbones;
using MLNetClassify.Data;
using MLNetClassify.Training;

namespace MLNetClassify.Benchmarks;

/// <summary>Test accuracy of the default classifier when images are resized to S×S before ResNet18, for several S.</summary>
internal static class InputSizes
{
    public static int Run(string dataDirectory, string splitFile, int[] sizes)
    {
        var split = DataSplit.ReadFile(splitFile, dataDirectory);
        Console.WriteLine($"| S | accuracy | log-loss | featurize img/s |  ({Path.GetFileName(dataDirectory.TrimEnd('/'))}, {split.Train.Count} train / {split.Test.Count} test)");
        Console.WriteLine("|---|---|---|---|");
        foreach (int size in sizes)
        {
            var trained = ClassifierWorkflow.Train(new MLContext(1), split, new ImageClassifierOptions { Backbone = BackboneCatalog.ResNet18AtSize(size) });
            var t = trained.Test!;
            Console.WriteLine($"| {size} | {t.Accuracy:F3} | {t.LogLoss:F3} | {trained.Images!.ImagesPerSecond:F1} |");
        }
        return 0;
    }
}

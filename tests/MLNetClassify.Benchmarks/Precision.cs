using System.Diagnostics;
using Microsoft.ML;
using Microsoft.ML.OnnxRuntime;
using MLNetClassify.Backbones;
using MLNetClassify.Data;
using MLNetClassify.Training;

namespace MLNetClassify.Benchmarks;

/// <summary>
/// float32 against int8 (QDQ, calibrated on generated images) for ResNet18 on one split: test accuracy and log-loss
/// of the default classifier, featurization img/s, and one ONNX Runtime call at batch 1.
/// </summary>
internal static class Precision
{
    public static int Run(string dataDirectory, string splitFile)
    {
        var split = DataSplit.ReadFile(splitFile, dataDirectory);
        Console.WriteLine($"| precision | accuracy | log-loss | featurize img/s | ORT batch-1 ms | graph MB |  ({Path.GetFileName(dataDirectory.TrimEnd('/'))})");
        Console.WriteLine("|---|---|---|---|---|---|");
        foreach (var spec in new[] { BackboneCatalog.ResNet18, BackboneCatalog.ResNet18 with { Precision = ComputePrecision.Int8 } })
        {
            var trained = ClassifierWorkflow.Train(new MLContext(1), split, new ImageClassifierOptions { Backbone = spec });
            var graph = FeaturizerGraph.Build(spec);
            Console.WriteLine($"| {spec.Precision} | {trained.Test!.Accuracy:F3} | {trained.Test.LogLoss:F4} | {trained.Images!.ImagesPerSecond:F1} | {Int8Lab.BatchOneMs(graph):F1} | {graph.Length / 1e6:F1} |");
        }
        return 0;
    }
}

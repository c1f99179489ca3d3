using System.Diagnostics;
using Microsoft.ML;
using MLNetClassify.Data;
using MLNetClassify.Persistence;

namespace MLNetClassify.Benchmarks;

/// <summary>
/// One saved model in a fresh process: load with warm-up, then PredictionEngine calls on a folder's images — first
/// call, and the median of 50 after 10 — the figure an application sees, with nothing else in the process.
/// </summary>
internal static class Latency
{
    public static int Run(string zip, string folder)
    {
        var images = ImageDataset.FromFolder(folder).Take(61).ToList();
        var ml = new MLContext(1);
        var model = ModelFiles.Load(ml, zip, warmUp: true);
        using var engine = ml.Model.CreatePredictionEngine<LabeledImage, Prediction>(model);
        var clock = Stopwatch.StartNew();
        engine.Predict(images[0]);
        double first = clock.Elapsed.TotalMilliseconds;
        for (int i = 0; i < 10; i++) engine.Predict(images[i % images.Count]);
        var times = new List<double>();
        for (int i = 0; i < 50; i++)
        {
            clock.Restart();
            engine.Predict(images[(i + 1) % images.Count]);
            times.Add(clock.Elapsed.TotalMilliseconds);
        }
        times.Sort();
        Console.WriteLine($"{Path.GetFileName(zip)}: first {first:F1} ms, median {times[25]:F1} ms, p10 {times[5]:F1}, p90 {times[45]:F1}");
        return 0;
    }

    private sealed class Prediction
    {
        public string PredictedLabelValue { get; set; } = "";
        public float[] Score { get; set; } = [];
    }
}

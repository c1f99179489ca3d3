using System.Diagnostics;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetClassify.Backbones;
using MLNetClassify.Data;
using MLNetClassify.Featurization;
using MLNetClassify.Images;
using MLNetClassify.Models;
using MLNetClassify.Serving;
using MLNetClassify.Training;

namespace MLNetClassify.Cli.Commands;

/// <summary>
/// One side of <c>bench</c>, run in a process of its own so that its peak memory is its own: ours (batched
/// featurizer, cache, our model) or the peer (ML.NET's documented DnnFeaturizeImage ResNet18 + LbfgsMaximumEntropy).
/// </summary>
internal static class BenchSides
{
    /// <summary>What a side measured; the parent reads it as the last JSON line.</summary>
    /// <param name="PeakRssMib">Peak resident memory when featurization of all the images had finished.</param>
    /// <param name="FinalPeakRssMib">Peak resident memory over the whole side (training, saving, predicting too).</param>
    internal sealed record SideResult(
        double FeaturizeImagesPerS, double PredictMs, double FirstPredictMs, double LoadMs, double PeakRssMib, double FinalPeakRssMib, long ZipBytes,
        double FirstTrainSeconds, double? SecondTrainSeconds, double Accuracy)
    {
        /// <summary>Training images whose features the second, cached training read from the cache (ours only).</summary>
        public int? RetrainCacheHits { get; init; }

        /// <summary>Training images of that run.</summary>
        public int? RetrainImages { get; init; }
    }

    public static SideResult Ours(string data, string splitFile, string work, ComputePrecision precision = ComputePrecision.Float32)
    {
        var backbone = BackboneCatalog.ResNet18 with { Precision = precision };
        var ml = new MLContext(1);
        var split = DataSplit.ReadFile(splitFile, data);
        var all = split.Train.Concat(split.Test).Select(i => ImageSource.FromFile(i.ImagePath)).ToList();
        double featurize;
        using (var featurizer = ml.ImageClassification().CreateFeaturizer(backbone))
        {
            // One-off costs (JIT, the first ORT run of each worker) stay out of the figure: a batch of 8 per core.
            featurizer.Featurize(all.Take(8 * Environment.ProcessorCount).ToList());
            featurize = featurizer.Featurize(all).ImagesPerSecond;
        }
        double featurizePeak = PeakRssMib();

        var cache = Path.Combine(work, "cache");
        var options = new ImageClassifierOptions { Backbone = backbone, Featurizer = new FeaturizerOptions { CacheDirectory = cache } };
        var clock = Stopwatch.StartNew();
        var trained = ClassifierWorkflow.Train(ml, split, options);
        double first = clock.Elapsed.TotalSeconds;
        var zip = Path.Combine(work, "ours.zip");
        ModelFiles.Save(ml, trained.Model, trained.InputSchema!, zip);
        clock.Restart();
        var retrained = ClassifierWorkflow.Train(ml, split, options);
        double second = clock.Elapsed.TotalSeconds;

        // Latency is measured by the parent in a fresh process (Latency), as an application that loads the zip sees it.
        return new SideResult(featurize, 0, 0, 0, featurizePeak, PeakRssMib(), new FileInfo(zip).Length, first, second,
            trained.Test?.Accuracy ?? double.NaN)
        {
            RetrainCacheHits = retrained.Images!.CacheHits,
            RetrainImages = retrained.Images.Features.Rows + retrained.Images.Skipped.Count,
        };
    }

    public static SideResult Peer(string data, string splitFile, string work)
    {
        var ml = new MLContext(1);
        var split = DataSplit.ReadFile(splitFile, data);
        var all = ml.Data.LoadFromEnumerable(split.Train.Concat(split.Test).ToList());
        var featurizing = ml.Transforms.LoadImages("Image", null, nameof(LabeledImage.ImagePath))
            .Append(ml.Transforms.ResizeImages("Image", 224, 224))
            .Append(ml.Transforms.ExtractPixels("Pixels", "Image"))
            .Append(ml.Transforms.DnnFeaturizeImage("Features", m => m.ModelSelector.ResNet18(ml, m.OutputColumn, m.InputColumn), "Pixels"));
        var featurizer = featurizing.Fit(all);
        _ = featurizer.Transform(ml.Data.TakeRows(all, 8)).GetColumn<float[]>("Features").Count();
        var clock = Stopwatch.StartNew();
        int n = featurizer.Transform(all).GetColumn<float[]>("Features").Count();
        double featurize = n / clock.Elapsed.TotalSeconds;
        double featurizePeak = PeakRssMib();

        // The documented training pipeline: features cached once, then L-BFGS softmax regression.
        clock.Restart();
        var train = ml.Data.LoadFromEnumerable(split.Train);
        var pipeline = ml.Transforms.Conversion.MapValueToKey("LabelKey", nameof(LabeledImage.Label))
            .Append(featurizing)
            .AppendCacheCheckpoint(ml)
            .Append(ml.MulticlassClassification.Trainers.LbfgsMaximumEntropy("LabelKey", "Features"))
            .Append(ml.Transforms.Conversion.MapKeyToValue("PredictedLabelValue", "PredictedLabel"));
        var model = pipeline.Fit(train);
        double trainSeconds = clock.Elapsed.TotalSeconds;
        var zip = Path.Combine(work, "peer.zip");
        ml.Model.Save(model, train.Schema, zip);
        var metrics = ml.MulticlassClassification.Evaluate(model.Transform(ml.Data.LoadFromEnumerable(split.Test)), "LabelKey");

        return new SideResult(featurize, 0, 0, 0, featurizePeak, PeakRssMib(), new FileInfo(zip).Length, trainSeconds, null,
            metrics.MicroAccuracy);
    }

    /// <summary>What the latency child measured.</summary>
    internal sealed record LatencyResult(double PredictMs, double FirstPredictMs, double LoadMs);

    /// <summary>
    /// The latency child: a process that only loads <paramref name="zip"/> and times the first prediction from an image
    /// file, then, after 10 more, the median of 50: what an application that loads the model sees, with nothing of the
    /// benchmark's training in the process. Ours is warmed at load and decodes each file as training does
    /// (DecodedImageScorer: upright, DCT-scaled); ML.NET's runs its plain path-based PredictionEngine.
    /// </summary>
    public static LatencyResult Latency(string zip, string splitFile, string data, bool ours)
    {
        var images = DataSplit.ReadFile(splitFile, data).Test;
        var ml = new MLContext(1);
        var clock = Stopwatch.StartNew();
        var model = ModelFiles.Load(ml, zip, out var schema);
        if (ours)
            ModelWarmUp.Run(ml, model, schema);
        double load = clock.Elapsed.TotalMilliseconds;
        Func<string, float[]> predict;
        IDisposable engine;
        if (ours)
        {
            var scorer = new DecodedImageScorer(ml, model, inputSchema: schema);
            predict = path => scorer.Score(path).Score ?? throw new InvalidDataException($"{path}: not scored");
            engine = scorer;
        }
        else
        {
            var plain = ml.Model.CreatePredictionEngine<LabeledImage, PredictCommand.Prediction>(model);
            predict = path => plain.Predict(new LabeledImage(path, "")).Score;
            engine = plain;
        }
        using (engine)
        {
            clock.Restart();
            predict(images[0].ImagePath);
            double first = clock.Elapsed.TotalMilliseconds;
            for (int i = 0; i < 10; i++)
                predict(images[i % images.Count].ImagePath);
            var times = new List<double>();
            for (int i = 0; i < 50; i++)
            {
                var path = images[(i + 1) % images.Count].ImagePath;
                clock.Restart();
                predict(path);
                times.Add(clock.Elapsed.TotalMilliseconds);
            }
            times.Sort();
            return new LatencyResult(times[times.Count / 2], first, load);
        }
    }

    private static double PeakRssMib()
    {
        using var self = Process.GetCurrentProcess();
        self.Refresh();
        return self.PeakWorkingSet64 / (1024.0 * 1024.0);
    }
}

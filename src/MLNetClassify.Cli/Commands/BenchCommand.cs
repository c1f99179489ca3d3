using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using Microsoft.ML.OnnxRuntime;
using MLNetClassify.Backbones;
using MLNetClassify.Data;

namespace MLNetClassify.Cli.Commands;

/// <summary>
/// <c>bench</c>: our path against ML.NET's documented one (DnnFeaturizeImage ResNet18 + LbfgsMaximumEntropy) on the
/// same images, each side in its own process so that peak memory is its own, plus raw ONNX Runtime on ResNet18.onnx.
/// </summary>
internal static class BenchCommand
{
    private const string SideVerb = "bench-side";

    public static Command Create()
    {
        var data = CommonOptions.Data();
        var split = CommonOptions.Split();
        var limit = new Option<int>("--limit") { Description = "Images to use (train and test together, in the split's proportions; at least 10).", DefaultValueFactory = _ => 500 }.AtLeast(10);
        var precision = CommonOptions.Precision(" Applies to our side; ML.NET's and raw ORT stay float32.");
        var json = CommonOptions.Json();
        var command = new Command("bench", "Measure featurization speed, single-image latency, peak memory, cached retraining and model size against ML.NET's own path.")
        {
            data, split, limit, precision, json,
        };
        Verb.SetAction(command, (result, token) =>
            Run(result.GetValue(data)!, result.GetValue(split), result.GetValue(limit), result.GetValue(precision), result.GetValue(json), token));
        return command;
    }

    /// <summary>
    /// The hidden verb a side runs as: <c>bench-side ours|peer DATA SPLIT WORK [PRECISION]</c>, or the latency child
    /// <c>bench-side latency ZIP SPLIT DATA WARMUP</c>.
    /// </summary>
    public static Command CreateSide()
    {
        var args = new Argument<string[]>("args") { Arity = new ArgumentArity(4, 6) };
        var command = new Command(SideVerb, "Internal: one side of bench.") { args };
        command.Hidden = true;
        Verb.SetAction(command, (result, token) =>
        {
            var a = result.GetValue(args)!;
            if (a[0] == "latency") // latency ZIP SPLIT DATA WARMUP
            {
                Output.JsonLine(BenchSides.Latency(a[1], a[2], a[3], a.Length > 4 && bool.Parse(a[4])), CliJson.Default.LatencyResult);
                return 0;
            }
            var side = a[0] == "peer" ? BenchSides.Peer(a[1], a[2], a[3]) : BenchSides.Ours(a[1], a[2], a[3], a.Length > 4 ? Enum.Parse<ComputePrecision>(a[4]) : ComputePrecision.Float32);
            Output.JsonLine(side, CliJson.Default.SideResult);
            return 0;
        });
        return command;
    }

    /// <summary>The JSON line of <c>bench --json</c>.</summary>
    internal sealed record Summary(
        int Images, int Cores, string OursPrecision, double OursFeaturizeImagesPerS, double PeerFeaturizeImagesPerS, double RawOrtImagesPerS,
        double FeaturizeRatio, double OursVsRawOrt, double OursPredictMs, double PeerPredictMs, double PredictLatencyRatio, double OursFirstPredictMs,
        double PeerFirstPredictMs, double OursLoadMs, double PeerLoadMs, double OursPeakRssMib, double PeerPeakRssMib, double OursFinalPeakRssMib,
        double PeerFinalPeakRssMib, double OursTrainSeconds, double? OursRetrainSeconds, double? CachedRerunRatio, int? RetrainCacheHits, int? RetrainImages,
        double PeerTrainSeconds, long OursZipBytes, long PeerZipBytes, double OursAccuracy, double PeerAccuracy);

    private static int Run(string data, string? splitFile, int limit, ComputePrecision precision, bool json, CancellationToken token)
    {
        var split = Sample(CommonOptions.LoadSplit(data, splitFile, 0.2, 1), limit);
        var work = Path.Combine(Path.GetTempPath(), "mlnet-classify-bench", Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(work);
        try
        {
            var sampleFile = Path.Combine(work, "split.tsv");
            split.WriteFile(sampleFile, data);
            Output.Step($"bench: {split.Train.Count} training + {split.Test.Count} test images from {data}; {Environment.ProcessorCount} cores");
            Output.Step($"ours ({precision.ToString().ToLowerInvariant()}): featurize, train (cold cache), retrain (warm cache), predict ...");
            var ours = RunSide("ours", data, sampleFile, work, token, precision.ToString());
            ours = WithLatency(ours, Child([SideVerb, "latency", Path.Combine(work, "ours.zip"), sampleFile, data, "true"], CliJson.Default.LatencyResult, token));
            Output.Step("ML.NET: DnnFeaturizeImage ResNet18 + LbfgsMaximumEntropy ...");
            var peer = RunSide("peer", data, sampleFile, work, token);
            peer = WithLatency(peer, Child([SideVerb, "latency", Path.Combine(work, "peer.zip"), sampleFile, data, "false"], CliJson.Default.LatencyResult, token));
            Output.Step("raw ONNX Runtime: ResNet18.onnx, batch 1 ...");
            double raw = RawOrt();

            var result = new Summary(
                split.Train.Count + split.Test.Count, Environment.ProcessorCount, precision.ToString().ToLowerInvariant(),
                ours.FeaturizeImagesPerS, peer.FeaturizeImagesPerS, raw, ours.FeaturizeImagesPerS / peer.FeaturizeImagesPerS, ours.FeaturizeImagesPerS / raw,
                ours.PredictMs, peer.PredictMs, ours.PredictMs / peer.PredictMs, ours.FirstPredictMs, peer.FirstPredictMs, ours.LoadMs, peer.LoadMs,
                ours.PeakRssMib, peer.PeakRssMib, ours.FinalPeakRssMib, peer.FinalPeakRssMib, ours.FirstTrainSeconds, ours.SecondTrainSeconds,
                ours.SecondTrainSeconds / ours.FirstTrainSeconds, ours.RetrainCacheHits, ours.RetrainImages, peer.FirstTrainSeconds,
                ours.ZipBytes, peer.ZipBytes, ours.Accuracy, peer.Accuracy);
            if (json)
            {
                Output.JsonLine(result, CliJson.Default.BenchSummary);
            }
            else
            {
                Console.WriteLine($"{"",-28} {"ours",10} {"ML.NET",10} {"ratio",7}");
                Console.WriteLine($"{"featurize img/s",-28} {ours.FeaturizeImagesPerS,10:F1} {peer.FeaturizeImagesPerS,10:F1} {result.FeaturizeRatio,7:F2}   raw ORT {raw:F1} (ours {result.OursVsRawOrt:F2} of it)");
                Console.WriteLine($"{"PredictionEngine ms (median)",-28} {ours.PredictMs,10:F1} {peer.PredictMs,10:F1} {result.PredictLatencyRatio,7:F2}");
                Console.WriteLine($"{"first prediction ms",-28} {ours.FirstPredictMs,10:F1} {peer.FirstPredictMs,10:F1}   (ours warmed at load)");
                Console.WriteLine($"{"Model.Load ms",-28} {ours.LoadMs,10:F0} {peer.LoadMs,10:F0}");
                Console.WriteLine($"{"peak RSS MiB, featurizing",-28} {ours.PeakRssMib,10:F0} {peer.PeakRssMib,10:F0} {ours.PeakRssMib / peer.PeakRssMib,7:F2}");
                Console.WriteLine($"{"peak RSS MiB, whole run",-28} {ours.FinalPeakRssMib,10:F0} {peer.FinalPeakRssMib,10:F0}");
                Console.WriteLine($"{"model zip MB",-28} {ours.ZipBytes / 1e6,10:F1} {peer.ZipBytes / 1e6,10:F1} {(double)ours.ZipBytes / peer.ZipBytes,7:F2}");
                Console.WriteLine($"{"train s (retrain, cached)",-28} {ours.FirstTrainSeconds,10:F1} {peer.FirstTrainSeconds,10:F1}   retrain {ours.SecondTrainSeconds:F1} s = {result.CachedRerunRatio:F2} of the first");
                Console.WriteLine($"{"test accuracy",-28} {ours.Accuracy,10:F3} {peer.Accuracy,10:F3}");
            }
            return 0;
        }
        finally
        {
            try { Directory.Delete(work, recursive: true); } catch (IOException) { }
        }
    }

    /// <summary>At most <paramref name="limit"/> images, train and test in the split's proportions, spread over labels in a fixed order.</summary>
    internal static DataSplit Sample(DataSplit split, int limit)
    {
        int total = split.Train.Count + split.Test.Count;
        if (total <= limit) return split;
        int test = Math.Max(1, (int)Math.Round((double)limit * split.Test.Count / total));
        static List<LabeledImage> Spread(IReadOnlyList<LabeledImage> images, int take) =>
            images.Select((image, i) => (image, i)).OrderBy(p => p.i * 7919L % images.Count).Take(take).Select(p => p.image).ToList();
        return new DataSplit(Spread(split.Train, limit - test), Spread(split.Test, test));
    }

    private static BenchSides.SideResult RunSide(string side, string data, string splitFile, string work, CancellationToken token, string? precision = null) =>
        Child(precision is null ? [SideVerb, side, data, splitFile, work] : [SideVerb, side, data, splitFile, work, precision], CliJson.Default.SideResult, token);

    private static BenchSides.SideResult WithLatency(BenchSides.SideResult side, BenchSides.LatencyResult latency) =>
        side with { PredictMs = latency.PredictMs, FirstPredictMs = latency.FirstPredictMs, LoadMs = latency.LoadMs };

    /// <summary>Runs this CLI as a child process with <paramref name="arguments"/> and reads its last stdout line as JSON.</summary>
    private static T Child<T>(string[] arguments, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> contract, CancellationToken token)
    {
        var host = Environment.ProcessPath!;
        var start = new ProcessStartInfo(host) { RedirectStandardOutput = true, RedirectStandardError = true };
        if (Path.GetFileNameWithoutExtension(host) == "dotnet")
            start.ArgumentList.Add(typeof(BenchCommand).Assembly.Location);
        foreach (var a in arguments) start.ArgumentList.Add(a);
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"Could not start {host}.");
        using var kill = token.Register(() => { try { process.Kill(entireProcessTree: true); } catch (InvalidOperationException) { } });
        var stdout = process.StandardOutput.ReadToEndAsync(token);
        var stderr = process.StandardError.ReadToEndAsync(token);
        process.WaitForExit();
        token.ThrowIfCancellationRequested();
        var last = stdout.Result.Split('\n', StringSplitOptions.RemoveEmptyEntries).LastOrDefault();
        if (process.ExitCode != 0 || last is null)
            throw new InvalidOperationException($"bench child '{string.Join(' ', arguments.Take(2))}' failed (exit {process.ExitCode}): {stderr.Result.Trim()}");
        return JsonSerializer.Deserialize(last, contract)!;
    }

    /// <summary>The package's ResNet18.onnx alone, batch 1, on zeros: the ceiling with no image work at all.</summary>
    private static double RawOrt()
    {
        using var options = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL, IntraOpNumThreads = Environment.ProcessorCount };
        using var session = new InferenceSession(BackboneCatalog.ResNet18.ResolveModelFile(), options);
        var input = new float[3 * 224 * 224];
        using var value = OrtValue.CreateTensorValueFromMemory(input, [1, 3, 224, 224]);
        using var runOptions = new RunOptions();
        for (int i = 0; i < 4; i++) session.Run(runOptions, ["Input247"], [value], ["Pooling395_Output_0"]).Dispose();
        const int runs = 100;
        var clock = Stopwatch.StartNew();
        for (int i = 0; i < runs; i++) session.Run(runOptions, ["Input247"], [value], ["Pooling395_Output_0"]).Dispose();
        return runs / clock.Elapsed.TotalSeconds;
    }
}

using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Microsoft.ML;
using MLNetClassify.Backbones;
using MLNetClassify.Data;

namespace MLNetClassify.Benchmarks;

/// <summary>
/// Peak RSS while featurizing against the worker count: the CPU default featurizer over the same images in child
/// processes that see 2 and 16 cores (DOTNET_PROCESSOR_COUNT; the CLI's GC setting, ConserveMemory 7), alternating,
/// each reporting its plan (workers × images per call), images/s and peak RSS; the ratios come from the same run.
/// ... -- featurizememory DATA_DIR [LIMIT=600] [ROUNDS=2] [int8] [CORES=2,16]
/// </summary>
internal static class FeaturizeMemoryLab
{
    public static int Run(string data, int limit, int rounds, bool int8, int[] cores)
    {
        Console.WriteLine($"featurizing {limit} images of {data}, {(int8 ? "int8" : "float32")}; this machine: {Environment.ProcessorCount} cores");
        var results = cores.ToDictionary(c => c, _ => new List<(double Rate, double Peak, string Plan)>());
        for (int round = 0; round < rounds; round++)
            foreach (int c in cores)
            {
                var info = new ProcessStartInfo(Environment.ProcessPath!) { RedirectStandardOutput = true };
                foreach (var a in new[] { "featurizememory-child", data, limit.ToString(CultureInfo.InvariantCulture), int8 ? "int8" : "float32" })
                    info.ArgumentList.Add(a);
                info.Environment["DOTNET_PROCESSOR_COUNT"] = c.ToString(CultureInfo.InvariantCulture);
                info.Environment["DOTNET_GCConserveMemory"] = "7";
                using var child = Process.Start(info)!;
                var last = child.StandardOutput.ReadToEnd().Trim().Split('\n')[^1];
                child.WaitForExit();
                var json = JsonDocument.Parse(last).RootElement;
                var r = (json.GetProperty("images_per_s").GetDouble(), json.GetProperty("peak_rss_mib").GetDouble(), json.GetProperty("plan").GetString()!);
                results[c].Add(r);
                Console.WriteLine($"round {round + 1}, {c,2} cores: {r.Item3}, {r.Item1:0.0} img/s, peak RSS {r.Item2:0} MiB");
            }
        int first = cores[0];
        foreach (int c in cores)
            Console.WriteLine($"{c,2} cores: median peak RSS {CpuCostLab.Median(results[c].Select(r => r.Peak)):0} MiB, {CpuCostLab.Median(results[c].Select(r => r.Rate)):0.0} img/s"
                + (c == first ? "" : $"; against {first} cores: RSS {CpuCostLab.Median(results[c].Select(r => r.Peak)) / CpuCostLab.Median(results[first].Select(r => r.Peak)):0.00}×, "
                    + $"img/s {CpuCostLab.Median(results[c].Select(r => r.Rate)) / CpuCostLab.Median(results[first].Select(r => r.Rate)):0.00}×"));
        return 0;
    }

    /// <summary>One child: as bench's side does, a warm-up then all the images; prints one JSON line.</summary>
    public static int Child(string data, int limit, bool int8)
    {
        var files = Directory.EnumerateFiles(data, "*", SearchOption.AllDirectories).Where(ImageDataset.IsImageFile)
            .Order(StringComparer.Ordinal).Take(limit).ToList();
        var ml = new MLContext(1);
        var backbone = BackboneCatalog.ResNet18 with { Precision = int8 ? ComputePrecision.Int8 : ComputePrecision.Float32 };
        using var featurizer = ml.ImageClassification().CreateFeaturizer(backbone);
        featurizer.Featurize(files.Take(8 * Environment.ProcessorCount).ToList());
        var result = featurizer.Featurize(files);
        double peak = Process.GetCurrentProcess().PeakWorkingSet64 / 1048576.0;
        Console.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["images_per_s"] = result.ImagesPerSecond,
            ["peak_rss_mib"] = peak,
            ["plan"] = featurizer.Plan.ToString(),
        }));
        return 0;
    }
}

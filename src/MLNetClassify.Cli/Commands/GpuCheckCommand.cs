using System.CommandLine;
using Microsoft.ML;
using MLNetClassify.Backbones;
using MLNetClassify.Cli.Demo;
using MLNetClassify.Featurization;
using MLNetClassify.Numerics;

namespace MLNetClassify.Cli.Commands;

/// <summary>
/// <c>gpu-check</c>: on a GPU host, CPU and CUDA features must agree, and end-to-end JPEG → features throughput is
/// measured at several batch sizes. tests/gpu/ carries the CLI there; see tests/gpu/README.md.
/// </summary>
internal static class GpuCheckCommand
{
    public static Command Create()
    {
        var images = new Option<int>("--images") { Description = "Generated 224×224 JPEGs to featurize per batch size.", DefaultValueFactory = _ => 3000 }.AtLeast(1);
        var device = CommonOptions.Device("cuda");
        var batches = new Option<int[]>("--batch") { Description = "Batch sizes to time.", DefaultValueFactory = _ => [1, 16, 64], AllowMultipleArgumentsPerToken = true };
        batches.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<int[]>() is { } sizes && sizes.Any(b => b < 1))
                result.AddError($"--batch sizes must be at least 1; got {string.Join(" ", sizes)}.");
        });
        var dir = new Option<string>("--dir") { Description = "Scratch folder for the generated images.", DefaultValueFactory = _ => Path.Combine(Path.GetTempPath(), "mlnc-gpu-check") };
        var json = CommonOptions.Json();
        var command = new Command("gpu-check", "Check a CUDA device: CPU and CUDA features agree (relative L2 ≤ 1e-3), then time JPEG → features at several batch sizes.")
        {
            images, device, batches, dir, json,
        };
        Verb.SetAction(command, (result, token) => Run(
            result.GetValue(images), result.GetValue(device), result.GetValue(batches)!, result.GetValue(dir)!, result.GetValue(json), token));
        return command;
    }

    /// <summary>The JSON line of <c>gpu-check --json</c>.</summary>
    internal sealed record Summary(string Device, double WorstRelativeL2, bool Agree, IReadOnlyList<Throughput> Throughput);

    /// <summary>One batch size's end-to-end throughput.</summary>
    internal sealed record Throughput(int Batch, int Images, double ImagesPerS);

    private static int Run(int count, ExecutionDevice device, int[] batches, string dir, bool json, CancellationToken token)
    {
        // With --json, stdout carries the JSON line alone: the table goes to stderr.
        var table = json ? Console.Error : Console.Out;
        var ml = new MLContext(1);
        Output.Step($"generating {count} images in {dir} ...");
        var files = LogoDataset.Generate(dir, new LogoDatasetOptions { ImagesPerClass = (count + 1) / 2, Seed = 1 })
            .Take(count).Select(i => i.ImagePath).ToList();

        var sample = files.Take(64).ToList();
        using var cpu = new ImageFeaturizer(ml, BackboneCatalog.ResNet18, new FeaturizerOptions { Device = ExecutionDevice.Cpu });
        using var gpu = new ImageFeaturizer(ml, BackboneCatalog.ResNet18, new FeaturizerOptions { Device = device, RequireDevice = true, BatchSize = 16 });
        var a = cpu.Featurize(sample, null, token).Features;
        var b = gpu.Featurize(sample, null, token).Features;
        double worst = Enumerable.Range(0, a.Rows).Max(i => Kernels.RelativeL2Difference(b.Row(i), a.Row(i)));
        bool agree = worst <= 1e-3;
        Output.Step($"CPU vs {gpu.Device}: worst relative L2 over {a.Rows} images = {worst:E2} ({(agree ? "agree" : "DISAGREE")})");

        var rows = new List<Throughput>();
        table.WriteLine($"| batch | images | img/s ({gpu.Device}, JPEG → features, {Environment.ProcessorCount} decode threads) |");
        table.WriteLine("|---|---|---|");
        foreach (int batch in batches)
        {
            using var f = new ImageFeaturizer(ml, BackboneCatalog.ResNet18, new FeaturizerOptions { Device = device, RequireDevice = true, BatchSize = batch });
            f.Featurize(files.Take(Math.Max(2 * batch, 32)).ToList(), null, token); // warm-up: cuDNN algorithm search
            var r = f.Featurize(files, null, token);
            table.WriteLine($"| {batch} | {r.Features.Rows} | {r.ImagesPerSecond:F0} |");
            rows.Add(new Throughput(batch, r.Features.Rows, r.ImagesPerSecond));
        }
        if (json)
            Output.JsonLine(new Summary(gpu.Device.ToString(), worst, agree, rows), CliJson.Default.GpuCheckSummary);
        return agree ? 0 : 1;
    }
}

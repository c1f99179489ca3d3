using System.CommandLine;
using Microsoft.ML;
using MLNetClassify.Backbones;
using MLNetClassify.Cli.Demo;
using MLNetClassify.Featurization;
using MLNetClassify.Numerics;

namespace MLNetClassify.Cli.Commands;

/// <summary>
/// <c>gpu-check</c>: on a GPU host, CPU and CUDA features must agree, and end-to-end JPEG → features throughput is
/// measured at several batch sizes, with TF32 off (the default) and on, with where each batch's time goes.
/// tests/gpu/ carries the CLI there; see tests/gpu/README.md.
/// </summary>
internal static class GpuCheckCommand
{
    /// <summary>
    /// The most a CUDA feature vector may differ from the CPU's (relative L2) with TF32 off, the default. Float32 on
    /// both sides, so only summation order and cuDNN's algorithms differ: an H200 measured at most 1.5e-6 over 256
    /// images (docs/gpu.md). The margin is for other GPUs and CPUs; TF32 left on (median 8.6e-4 there) fails it.
    /// </summary>
    public const double DefaultMaxRelativeL2 = 1e-4;

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
        var compare = new Option<int>("--compare") { Description = "Images whose CPU and CUDA features are compared.", DefaultValueFactory = _ => 256 }.AtLeast(1);
        var threshold = new Option<double>("--max-relative-l2")
        {
            Description = $"Largest relative L2 difference from the CPU's features allowed with TF32 off (default {DefaultMaxRelativeL2:0e0}); TF32's is reported, not checked.",
            DefaultValueFactory = _ => DefaultMaxRelativeL2,
        }.Between(0, 1, exclusive: true);
        var dir = new Option<string>("--dir") { Description = "Scratch folder for the generated images.", DefaultValueFactory = _ => Path.Combine(Path.GetTempPath(), "mlnc-gpu-check") };
        var json = CommonOptions.Json();
        var command = new Command("gpu-check",
            $"Check a CUDA device: CPU and CUDA features agree (relative L2 ≤ {DefaultMaxRelativeL2:0e0} with TF32 off), then time JPEG → features at several "
            + "batch sizes with TF32 off and on, with decode, inference and the copy to the device per batch.")
        {
            images, device, batches, compare, threshold, dir, json,
        };
        Verb.SetAction(command, (result, token) => Run(result.GetValue(images), result.GetValue(device), result.GetValue(batches)!,
            result.GetValue(compare), result.GetValue(threshold), result.GetValue(dir)!, result.GetValue(json), token));
        return command;
    }

    /// <summary>The JSON line of <c>gpu-check --json</c>; <see cref="Agree"/> is TF32 off's verdict.</summary>
    internal sealed record Summary(string Device, double MaxRelativeL2, bool Agree, IReadOnlyList<Agreement> Agreement, IReadOnlyList<Throughput> Throughput);

    /// <summary>CUDA features against the CPU's, over <see cref="Images"/> images.</summary>
    internal sealed record Agreement(bool Tf32, int Images, double WorstRelativeL2, double MedianRelativeL2);

    /// <summary>
    /// One batch size's end-to-end throughput, and per batch: decode (wall time of decoding a batch on all decode
    /// threads) and inference (the featurizer's ONNX Runtime call) in the pipeline, how long each side waited for the
    /// other in all, and the inference call taken apart on one batch (<see cref="GpuCheckTimings.Parts"/>; null when that failed).
    /// </summary>
    internal sealed record Throughput(bool Tf32, int Batch, int Images, double ImagesPerS, double DecodeMsPerBatch, double InferenceMsPerBatch,
        double InferenceWaitS, double DecodeBlockedS, double? CopyInMs, double? ModelMs, double? RunMs, double? ModelImagesPerS);

    private static int Run(int count, ExecutionDevice device, int[] batches, int compare, double threshold, string dir, bool json, CancellationToken token)
    {
        // With --json, stdout carries the JSON line alone: the tables go to stderr.
        var table = json ? Console.Error : Console.Out;
        var ml = new MLContext(1);
        Output.Step($"generating {count} images in {dir} ...");
        var files = LogoDataset.Generate(dir, new LogoDatasetOptions { ImagesPerClass = (count + 1) / 2, Seed = 1 })
            .Take(count).Select(i => i.ImagePath).ToList();

        var sample = files.Take(compare).ToList();
        var backbone = BackboneCatalog.ResNet18;
        Data.FeatureMatrix reference;
        using (var cpu = new ImageFeaturizer(ml, backbone, new FeaturizerOptions { Device = ExecutionDevice.Cpu }))
            reference = cpu.Featurize(sample, null, token).Features;
        var agreement = new List<Agreement>();
        foreach (bool tf32 in (bool[])[false, true])
        {
            using var gpu = new ImageFeaturizer(ml, backbone, new FeaturizerOptions { Device = device, RequireDevice = true, AllowTf32 = tf32, BatchSize = 64 });
            var features = gpu.Featurize(sample, null, token).Features;
            var errors = Enumerable.Range(0, features.Rows).Select(i => Kernels.RelativeL2Difference(features.Row(i), reference.Row(i))).Order().ToList();
            agreement.Add(new Agreement(tf32, errors.Count, errors[^1], errors[errors.Count / 2]));
            Output.Step($"CPU vs {gpu.Device}, TF32 {(tf32 ? "on" : "off")}: relative L2 over {errors.Count} images, worst {errors[^1]:E2}, median {errors[errors.Count / 2]:E2}");
        }
        bool agree = agreement[0].WorstRelativeL2 <= threshold;
        Output.Step($"TF32 off: {(agree ? "agree" : "DISAGREE")} (threshold {threshold:E1})");

        var rows = new List<Throughput>();
        table.WriteLine($"| TF32 | batch | images | img/s ({device}, JPEG → features, {Environment.ProcessorCount} decode threads) | decode ms/batch | inference ms/batch "
            + "| inference waited s | decode waited s | copy in ms | network alone ms | host→host run ms | network alone img/s |");
        table.WriteLine("|---|---|---|---|---|---|---|---|---|---|---|---|");
        foreach (bool tf32 in (bool[])[false, true])
            foreach (int batch in batches)
            {
                token.ThrowIfCancellationRequested();
                using var f = new ImageFeaturizer(ml, backbone, new FeaturizerOptions { Device = device, RequireDevice = true, AllowTf32 = tf32, BatchSize = batch });
                f.Featurize(files.Take(Math.Max(2 * batch, 32)).ToList(), null, token); // warm-up: cuDNN algorithm search
                var r = f.Featurize(files, null, token);
                var stages = r.Stages!;
                GpuCheckTimings.Parts? parts = null;
                try
                {
                    parts = GpuCheckTimings.Measure(backbone, device, tf32, batch);
                }
                catch (Exception e) when (e is Microsoft.ML.OnnxRuntime.OnnxRuntimeException or InvalidOperationException)
                {
                    Output.Warn($"timing the inference call's parts at batch {batch} failed: {e.Message}");
                }
                var row = new Throughput(tf32, batch, r.Features.Rows, r.ImagesPerSecond, stages.DecodeMsPerBatch, stages.InferenceMsPerBatch,
                    stages.InferenceWaitSeconds, stages.DecodeBlockedSeconds, parts?.CopyInMs, parts?.ModelMs, parts?.RunMs, parts is null ? null : batch * 1000 / parts.ModelMs);
                rows.Add(row);
                table.WriteLine(FormattableString.Invariant(
                    $"| {(tf32 ? "on" : "off")} | {batch} | {row.Images} | {row.ImagesPerS:F0} | {row.DecodeMsPerBatch:F2} | {row.InferenceMsPerBatch:F2} | {row.InferenceWaitS:F2} | {row.DecodeBlockedS:F2} ")
                    + FormattableString.Invariant($"| {row.CopyInMs:F2} | {row.ModelMs:F2} | {row.RunMs:F2} | {row.ModelImagesPerS:F0} |"));
            }
        if (json)
            Output.JsonLine(new Summary(device.ToString(), threshold, agree, agreement, rows), CliJson.Default.GpuCheckSummary);
        return agree ? 0 : 1;
    }
}

using System.CommandLine;
using Microsoft.ML;
using MLNetClassify.Backbones;
using MLNetClassify.Data;

namespace MLNetClassify.Cli.Commands;

/// <summary>Options several verbs share, and how they turn into data.</summary>
internal static class CommonOptions
{
    public static Option<string> Data(string description = "Folder with one sub-folder of images per label.") =>
        new("--data") { Description = description, Required = true };

    public static Option<string> Model(string description) => new("--model") { Description = description, Required = true };

    public static Option<string?> Split() => new("--split")
    {
        Description = "Split file (tab-separated, header 'set<TAB>label<TAB>path', paths relative to --data).",
    };

    public static Option<bool> Json() => new("--json") { Description = "Print results as JSON (the last stdout line)." };

    public static Option<string> Device() => new("--device")
    {
        Description = "Where the backbone runs: cpu, cuda or cuda:N. CUDA falls back to the CPU, with a message, when it cannot start.",
        DefaultValueFactory = _ => "cpu",
    };

    public static Option<bool> RequireDevice() => new("--require-device")
    {
        Description = "Fail, naming what is missing, instead of falling back to the CPU when --device cannot be used.",
    };

    public static Option<ComputePrecision> Precision(string? note = null) => new("--precision")
    {
        Description = "Backbone arithmetic on the CPU: Float32, or Int8 (convolutions quantized, the most sensitive kept float32; ~2× faster, accuracy 0.33 points lower pooled over the shared splits; the graph is calibrated once per run, ~12 s)." + note,
        DefaultValueFactory = _ => ComputePrecision.Float32,
    };

    public static Option<string?> Cache() => new("--cache")
    {
        Description = "Folder of the bottleneck-feature cache (default: $MLNETCLASSIFY_CACHE, else ~/.cache/mlnet-classify/features).",
    };

    public static Option<bool> NoCache() => new("--no-cache") { Description = "Featurize every image, reading and writing no cache." };

    /// <summary>The cache folder to use: none with --no-cache, else --cache, the environment's, or the user's cache folder.</summary>
    public static string? CacheFolder(string? cache, bool noCache)
    {
        if (noCache) return null;
        if (!string.IsNullOrEmpty(cache)) return cache;
        if (Environment.GetEnvironmentVariable("MLNETCLASSIFY_CACHE") is { Length: > 0 } fromEnvironment) return fromEnvironment;
        var root = Environment.GetEnvironmentVariable("XDG_CACHE_HOME") is { Length: > 0 } xdg
            ? xdg
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache");
        return Path.Combine(root, "mlnet-classify", "features");
    }

    /// <summary>Exit code for bad input that was reported.</summary>
    public const int InputError = 2;

    /// <summary>Exit code after Ctrl-C (128 + SIGINT).</summary>
    public const int Cancelled = 130;

    /// <summary>Runs a verb body, turning expected failures into a one-line message and an exit code.</summary>
    public static int Guard(Func<int> body)
    {
        try
        {
            return body();
        }
        catch (OperationCanceledException)
        {
            Output.Step("cancelled: nothing was written.");
            return Cancelled;
        }
        catch (Exception e) when (e is ArgumentException or IOException or InvalidDataException or UnauthorizedAccessException or InvalidOperationException or FormatException)
        {
            System.Console.Error.WriteLine($"error: {e.Message}");
            return InputError;
        }
    }

    /// <summary>Points <paramref name="mlContext"/>'s ONNX steps at the device, reporting a fallback on stderr.</summary>
    public static ExecutionDevice UseDevice(MLContext mlContext, string device, bool require)
    {
        var requested = ExecutionDevice.Parse(device);
        if (ExecutionDevices.Configure(mlContext, requested, require) is { } reason)
        {
            Output.Warn(reason + ".");
            return ExecutionDevice.Cpu;
        }
        return requested;
    }

    /// <summary>The split the user asked for: a split file, else a stratified split of the folder.</summary>
    public static DataSplit LoadSplit(string dataDirectory, string? splitFile, double testFraction, ulong seed) =>
        splitFile is null
            ? DataSplit.Stratified(ImageDataset.FromFolder(dataDirectory), testFraction, seed)
            : DataSplit.ReadFile(splitFile, dataDirectory);
}

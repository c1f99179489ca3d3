using System.CommandLine.Parsing;
using System.CommandLine;
using Microsoft.ML;
using MLNetClassify.Backbones;
using MLNetClassify.Data;

namespace MLNetClassify.Cli.Commands;

/// <summary>
/// Options several verbs share, typed and validated by System.CommandLine: a value out of range is a parse error
/// (exit code 2, the option named), never silently clamped.
/// </summary>
internal static class CommonOptions
{
    public static Option<string> Data(string description = "Folder with one sub-folder of images per label.") =>
        new("--data") { Description = description, Required = true };

    public static Option<string> Model(string description) => new("--model") { Description = description, Required = true };

    public static Option<string?> Split() => new("--split")
    {
        Description = "Split file (tab-separated, header 'set<TAB>label<TAB>path', paths relative to --data).",
    };

    public static Option<double> TestFraction() => new Option<double>("--test-fraction")
    {
        Description = "Test share of each label when no split file is given.",
        DefaultValueFactory = _ => 0.2,
    }.Between(0, 1, exclusive: true);

    public static Option<int> Seed(string description) => new("--seed") { Description = description, DefaultValueFactory = _ => 1 };

    public static Option<bool> Json() => new("--json") { Description = "Print results as JSON (the last stdout line); stdout carries nothing else." };

    /// <summary>Recursive on the root command: every verb takes it.</summary>
    public static Option<bool> Verbose { get; } = new("--verbose")
    {
        Description = "On an unexpected error, print the exception's stack as well as its message.",
        Recursive = true,
    };

    public static Option<ExecutionDevice> Device(string defaultDevice = "cpu") => new("--device")
    {
        Description = "Where the backbone runs: cpu, cuda or cuda:N. CUDA falls back to the CPU, with a message, when it cannot start.",
        DefaultValueFactory = _ => ExecutionDevice.Parse(defaultDevice),
        CustomParser = result => Parse(result, ExecutionDevice.Parse),
    };

    public static Option<bool> Tf32() => new("--tf32")
    {
        Description = "With --device cuda, let the backbone's convolutions use TF32 on the tensor cores (Ampere and later): faster, but the "
            + "features then differ from the CPU's far more than without it (figures in docs/gpu.md). Off by default; TF32 features are cached apart.",
    };

    public static Option<bool> RequireDevice() => new("--require-device")
    {
        Description = "Fail, naming what is missing, instead of falling back to the CPU when --device cannot be used.",
    };

    public static Option<ComputePrecision> Precision(string? note = null) => new("--precision")
    {
        Description = "Backbone arithmetic on the CPU: Float32, or Int8 (convolutions quantized, the most sensitive kept float32; the graph is calibrated "
            + "once per run). What Int8 gains in speed and costs in accuracy, measured: docs/speed-and-memory.md." + note,
        DefaultValueFactory = _ => ComputePrecision.Float32,
    };

    public static Option<WeightStorage> Weights(string description) => new("--weights")
    {
        Description = description,
        DefaultValueFactory = _ => BackboneCatalog.ResNet18.Weights,
    };

    public static Option<int> Tta() => new Option<int>("--tta")
    {
        Description = "Test-time augmentation: average each image's class probabilities over K views (1: none, the default; 2: and its mirror image; "
            + "K > 2: and K − 2 random resized crops). Each view costs one more backbone pass; docs/accuracy.md has what it gained.",
        DefaultValueFactory = _ => 1,
    }.AtLeast(1).AtMost(16);

    public static Option<int?> InputSize(string description) => new Option<int?>("--input-size") { Description = description }.AtLeast(8);

    public static Option<string?> Cache() => new("--cache")
    {
        Description = "Folder of the bottleneck-feature cache (default: $MLNETCLASSIFY_CACHE, else ~/.cache/mlnet-classify/features).",
    };

    public static Option<bool> NoCache() => new("--no-cache") { Description = "Featurize every image, reading and writing no cache." };

    /// <summary>Adds a validator: the value must be at least <paramref name="minimum"/>.</summary>
    public static Option<T> AtLeast<T>(this Option<T> option, int minimum)
    {
        option.Validators.Add(result =>
        {
            var value = result.GetValueOrDefault<T>();
            if (value is int v && v < minimum)
                result.AddError($"{option.Name} must be at least {minimum}; got {v}.");
        });
        return option;
    }

    /// <summary>Adds a validator: the value must be at most <paramref name="maximum"/>.</summary>
    public static Option<int> AtMost(this Option<int> option, int maximum)
    {
        option.Validators.Add(result =>
        {
            int v = result.GetValueOrDefault<int>();
            if (v > maximum)
                result.AddError($"{option.Name} must be at most {maximum}; got {v}.");
        });
        return option;
    }

    /// <summary>Adds a validator: the value must lie between the bounds.</summary>
    public static Option<double> Between(this Option<double> option, double low, double high, bool exclusive)
    {
        option.Validators.Add(result =>
        {
            double v = result.GetValueOrDefault<double>();
            if (exclusive ? v <= low || v >= high : v < low || v > high)
                result.AddError($"{option.Name} must be in {(exclusive ? "(" : "[")}{low}, {high}{(exclusive ? ")" : "]")}; got {v}.");
        });
        return option;
    }

    /// <summary>A custom parser's body: <paramref name="parse"/> the single token, turning its FormatException or ArgumentException into a parse error.</summary>
    public static T Parse<T>(ArgumentResult result, Func<string, T> parse)
    {
        var token = result.Tokens.Count > 0 ? result.Tokens[^1].Value : "";
        try
        {
            return parse(token);
        }
        catch (Exception e) when (e is FormatException or ArgumentException)
        {
            result.AddError(e.Message);
            return default!;
        }
    }

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

    /// <summary>Points <paramref name="mlContext"/>'s ONNX steps at the device, reporting a fallback on stderr.</summary>
    public static ExecutionDevice UseDevice(MLContext mlContext, ExecutionDevice requested, bool require)
    {
        if (ExecutionDevices.Configure(mlContext, requested, require) is { } reason)
        {
            Output.Warn(reason + ".");
            return ExecutionDevice.Cpu;
        }
        return requested;
    }

    /// <summary>The split the user asked for: a split file, else a stratified split of the folder.</summary>
    public static DataSplit LoadSplit(string dataDirectory, string? splitFile, double testFraction, ulong seed, bool allowOutsidePaths = false) =>
        splitFile is null
            ? DataSplit.Stratified(ImagesOf(dataDirectory), testFraction, seed)
            : ReadSplit(splitFile, dataDirectory, allowOutsidePaths);

    /// <summary>A split file, checked; what it repeats or shares between its sets on stderr.</summary>
    public static DataSplit ReadSplit(string splitFile, string dataDirectory, bool allowOutsidePaths)
    {
        var split = DataSplit.ReadFile(splitFile, dataDirectory, allowOutsidePaths, out var notes);
        foreach (var note in notes) Output.Warn(note);
        return split;
    }

    public static Option<string?> Report() => new("--report")
    {
        Description = "Also write a report to this folder: index.html with PNG figures (confusion matrix, per-class precision/recall/F1, "
            + "most confused pairs, top losses with class activation maps; for train, loss and accuracy per epoch). Its figures go to --json too.",
    };

    public static Option<bool> AllowOutsidePaths() => new("--allow-outside-paths")
    {
        Description = "Let a split file name images outside --data (absolute paths, ../); by default such a line is an error.",
    };

    /// <summary>The folder's images; what was left out or looks wrong (other files, directory links, empty labels) on stderr.</summary>
    public static IReadOnlyList<LabeledImage> ImagesOf(string dataDirectory)
    {
        var images = ImageDataset.FromFolder(dataDirectory, out var notes);
        foreach (var note in notes) Output.Warn(note);
        return images;
    }

    /// <summary>One warning naming how many files of which endings were left out, when any were.</summary>
    public static void ReportLeftOut(IReadOnlyDictionary<string, int> leftOut)
    {
        if (leftOut.Count > 0)
            Output.Warn(ImageDataset.LeftOutNote(leftOut));
    }
}

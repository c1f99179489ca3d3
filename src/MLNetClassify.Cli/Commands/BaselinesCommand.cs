using System.CommandLine;
using System.Diagnostics;
using Microsoft.ML;
using MLNetClassify.Backbones;
using MLNetClassify.Data;
using MLNetClassify.Heads;
using MLNetClassify.Perceptrons;
using MLNetClassify.Models;
using MLNetClassify.Training;

namespace MLNetClassify.Cli.Commands;

/// <summary><c>baselines</c>: pixel SLP, pixel MLP and CNN features + softmax on one split, side by side.</summary>
internal static class BaselinesCommand
{
    public static Command Create()
    {
        var data = CommonOptions.Data();
        var split = CommonOptions.Split();
        var testFraction = CommonOptions.TestFraction();
        var seed = CommonOptions.Seed("Seed for the split and for training.");
        var slpSize = new Option<int>("--slp-size") { Description = "Side S of the S×S pixels the single-layer perceptron sees.", DefaultValueFactory = _ => PerceptronOptions.SingleLayer.ImageSize }.AtLeast(8);
        var mlpSize = new Option<int>("--mlp-size") { Description = "Side S of the S×S pixels the multi-layer perceptron sees.", DefaultValueFactory = _ => PerceptronOptions.MultiLayer.ImageSize }.AtLeast(8);
        var hidden = new Option<int[]>("--hidden")
        {
            Description = "The MLP's hidden ReLU layer sizes, comma-separated.",
            DefaultValueFactory = _ => [.. PerceptronOptions.MultiLayer.HiddenLayers],
            CustomParser = result => CommonOptions.Parse(result, ParseSizes),
        };
        var sigmoid = new Option<bool>("--sigmoid") { Description = "Two labels only: give the single-layer perceptron one sigmoid output instead of a softmax over two." };
        var models = new Option<string?>("--models") { Description = "Folder to save the three models in (slp.zip, mlp.zip, cnn.zip)." };
        var json = CommonOptions.Json();
        var command = new Command("baselines",
            "Train a single-layer perceptron and a multi-layer perceptron on raw pixels, and the softmax head on ResNet18 features, on the same split; compare them.")
        {
            data, split, testFraction, seed, slpSize, mlpSize, hidden, sigmoid, models, json,
        };
        Verb.SetAction(command, (result, token) => Run(new Settings
        {
            Data = result.GetValue(data)!,
            Split = result.GetValue(split),
            TestFraction = result.GetValue(testFraction),
            Seed = result.GetValue(seed),
            SlpSize = result.GetValue(slpSize),
            MlpSize = result.GetValue(mlpSize),
            Hidden = result.GetValue(hidden)!,
            Sigmoid = result.GetValue(sigmoid),
            Models = result.GetValue(models),
            Json = result.GetValue(json),
        }, token));
        return command;
    }

    /// <summary>What <c>baselines</c> was asked to do.</summary>
    internal sealed record Settings
    {
        public required string Data { get; init; }
        public string? Split { get; init; }
        public double TestFraction { get; init; } = 0.2;
        public int Seed { get; init; } = 1;
        public int SlpSize { get; init; } = 128;
        public int MlpSize { get; init; } = 32;
        public required int[] Hidden { get; init; }
        public bool Sigmoid { get; init; }
        public string? Models { get; init; }
        public bool Json { get; init; }
    }

    /// <summary>One row of the comparison.</summary>
    internal sealed record Row(string Model, double Accuracy, double MacroAccuracy, double LogLoss, long Parameters, double Seconds, int ImageSize, string Layers);

    internal static int Run(Settings args, CancellationToken token)
    {
        var mlContext = new MLContext(args.Seed);
        var split = CommonOptions.LoadSplit(args.Data, args.Split, args.TestFraction, (ulong)args.Seed);
        if (split.Test.Count == 0)
            throw new ArgumentException("The split has no test images to compare the models on.");
        Output.Step($"data: {split.Train.Count} training and {split.Test.Count} test images");
        if (args.Models is not null) Directory.CreateDirectory(args.Models);

        var rows = new List<Row>();
        var slp = PerceptronOptions.SingleLayer with
        {
            ImageSize = args.SlpSize,
            Seed = args.Seed,
            SigmoidOutput = args.Sigmoid,
        };
        var mlp = PerceptronOptions.MultiLayer with { ImageSize = args.MlpSize, HiddenLayers = args.Hidden, Seed = args.Seed };
        foreach (var (name, options) in new[] { ("slp", slp), ("mlp", mlp) })
        {
            Output.Step($"{name}: {options.ImageSize}×{options.ImageSize} pixels → {Describe(options)}");
            var clock = Stopwatch.StartNew();
            var trained = ClassifierWorkflow.TrainPerceptron(mlContext, split, options, cancellationToken: token);
            var test = trained.Test!;
            Output.ReportSkipped(trained.Images!.Skipped, "training");
            rows.Add(new Row(name, test.Accuracy, test.MacroAccuracy, test.LogLoss, trained.TrainedParameters,
                TrainingSeconds(clock, test), options.ImageSize, Describe(options)));
            Save(mlContext, args.Models, name, trained.Model, trained.InputSchema!);
        }

        Output.Step("cnn: ResNet18 features → softmax");
        var cnnClock = Stopwatch.StartNew();
        var cnn = ClassifierWorkflow.Train(mlContext, split, new ImageClassifierOptions
        {
            Head = new SoftmaxHeadOptions { Seed = args.Seed },
        }, Output.FeaturizationProgress("featurizing"), cancellationToken: token);
        var cnnTest = cnn.Test!;
        rows.Add(new Row("cnn", cnnTest.Accuracy, cnnTest.MacroAccuracy, cnnTest.LogLoss, cnn.TrainedParameters,
            TrainingSeconds(cnnClock, cnnTest), BackboneCatalog.ResNet18.InputSize, "ResNet18 (frozen) → GAP 512 → softmax"));
        Save(mlContext, args.Models, "cnn", cnn.Model, cnn.InputSchema!);

        if (args.Json)
        {
            Output.JsonLine(rows, CliJson.Default.BaselineRows);
        }
        else
        {
            Console.WriteLine($"{"model",-5} {"accuracy",9} {"log-loss",9} {"parameters",11} {"seconds",8}  layers");
            foreach (var r in rows)
                Console.WriteLine($"{r.Model,-5} {r.Accuracy,9:F4} {r.LogLoss,9:F4} {r.Parameters,11:N0} {r.Seconds,8:F1}  {r.ImageSize}×{r.ImageSize}: {r.Layers}");
        }
        return 0;
    }

    /// <summary>Wall time of training: the whole run less the test scoring it included.</summary>
    private static double TrainingSeconds(Stopwatch clock, EvaluationSummary test) =>
        Math.Max(0, clock.Elapsed.TotalSeconds - test.Images / Math.Max(test.ImagesPerSecond, 1e-9));

    private static string Describe(PerceptronOptions options) =>
        string.Join(" → ", options.HiddenLayers.Select(h => $"{h} ReLU").Append(options.SigmoidOutput ? "sigmoid" : "softmax"));

    private static void Save(MLContext mlContext, string? folder, string name, ITransformer model, DataViewSchema schema)
    {
        if (folder is null) return;
        var path = Path.Combine(folder, name + ".zip");
        ModelFiles.Save(mlContext, model, schema, path);
        Output.Step($"  saved {Path.GetFullPath(path)}");
    }

    internal static int[] ParseSizes(string text)
    {
        var parts = text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (parts.Length == 0)
            throw new FormatException("--hidden needs at least one layer size: an MLP without hidden layers is the single-layer perceptron.");
        var sizes = new int[parts.Length];
        for (int i = 0; i < parts.Length; i++)
            if (!int.TryParse(parts[i], out sizes[i]) || sizes[i] <= 0)
                throw new FormatException($"--hidden '{text}': '{parts[i]}' is not a positive layer size.");
        return sizes;
    }
}

using System.CommandLine;
using System.Text.Json;
using Microsoft.ML;
using MLNetClassify.Models;

namespace MLNetClassify.Cli.Commands;

/// <summary><c>info</c>: what a model zip is and how it was trained.</summary>
internal static class InfoCommand
{
    /// <summary>How a model was trained, saved in its zip by <c>train</c> (entry MLNetClassify/training.json).</summary>
    internal sealed record TrainingRecord(
        string Library, string SavedUtc, string Data, string? Split, int Seed, int? Epochs, string Backbone, int InputSize, string Weights, string Precision,
        IReadOnlyList<string> Classes, IReadOnlyDictionary<string, int> TrainImagesPerClass, int TrainImages, int TestImages, double? Accuracy,
        double? MacroAccuracy, double? LogLoss, int BestEpoch)
    {
        /// <summary>"average" or "rich" (<see cref="Backbones.FeaturePooling"/>); absent in records written before it existed.</summary>
        public string? Features { get; init; }

        /// <summary>Augmented views per training image; absent in older records.</summary>
        public int? AugmentedViews { get; init; }

        /// <summary>Label smoothing of the head; absent in older records.</summary>
        public float? LabelSmoothing { get; init; }

        /// <summary>The model this one was retrained from (<c>retrain</c>); absent for a fresh training.</summary>
        public string? RetrainedFrom { get; init; }

        /// <summary>Backbone stages fine-tuned with the head (<c>train --fine-tune</c>); absent when the head alone was trained.</summary>
        public int? FineTunedStages { get; init; }

        /// <summary>The fine-tuning epoch kept (0: none beat the head alone, the stage is as pretrained); absent without fine-tuning.</summary>
        public int? FineTuneBestEpoch { get; init; }
    }

    /// <summary>The JSON line of <c>info --json</c>.</summary>
    /// <param name="StockLoad">Whether stock <c>mlContext.Model.Load</c> read the zip (always, when the command succeeds).</param>
    /// <param name="Training">The training record; null for a zip saved without one.</param>
    internal sealed record Summary(
        string Model, long Bytes, IReadOnlyList<string> Classes, string? Backbone, int? InputSize, int? Features, bool StockLoad,
        [property: System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.Never)] JsonElement? Training);

    public static Command Create()
    {
        var model = CommonOptions.Model("The model zip to describe.");
        var json = CommonOptions.Json();
        var command = new Command("info", "What a model zip holds: classes, backbone, input size, and how it was trained.") { model, json };
        Verb.SetAction(command, (result, _) => Run(result.GetValue(model)!, result.GetValue(json)));
        return command;
    }

    internal static int Run(string modelPath, bool json)
    {
        var mlContext = new MLContext(1);
        var model = ModelFiles.Load(mlContext, modelPath); // stock Model.Load, no registration
        // Disposing the loaded chain deletes the temporary copy of its ONNX graph that ML.NET writes (30+ MB a load).
        using var release = model as IDisposable;
        var graph = ModelFiles.ReadFeaturizerGraph(modelPath);
        var record = ModelFiles.ReadTrainingRecord(modelPath);
        JsonElement? training = null;
        if (record is not null)
        {
            try { training = JsonDocument.Parse(record).RootElement.Clone(); }
            catch (JsonException e) { Output.Warn($"{modelPath}: its training record is not JSON ({e.Message}); left out"); }
        }
        var summary = new Summary(Path.GetFullPath(modelPath), new FileInfo(modelPath).Length, ModelInfo.Classes(mlContext, model), graph?.BackboneName,
            graph?.InputSize, graph?.Channels, true, training);
        if (json)
        {
            Output.JsonLine(summary, CliJson.Default.InfoSummary);
            return 0;
        }
        Console.WriteLine($"model       {summary.Model} ({summary.Bytes / 1e6:F1} MB), read by stock mlContext.Model.Load");
        Console.WriteLine($"classes     {string.Join(", ", summary.Classes)}");
        Console.WriteLine(graph is null ? "backbone    (no MLNetClassify featurizer graph)" : $"backbone    {graph.BackboneName}, {graph.InputSize}×{graph.InputSize}, {graph.Channels} features");
        if (training is { } t)
            foreach (var p in t.EnumerateObject())
                Console.WriteLine($"{p.Name,-11} {p.Value}");
        else
            Console.WriteLine("training    no record (saved without one: by app code, or before this version)");
        return 0;
    }
}

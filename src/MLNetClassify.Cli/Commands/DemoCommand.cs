using System.CommandLine;
using System.Diagnostics;
using Microsoft.ML;
using MLNetClassify.Cli.Demo;
using MLNetClassify.Data;
using MLNetClassify.Heads;
using MLNetClassify.Models;
using MLNetClassify.Training;

namespace MLNetClassify.Cli.Commands;

/// <summary><c>demo</c>: the running example end to end on data the project draws itself.</summary>
internal static class DemoCommand
{
    public static Command Create()
    {
        var directory = new Option<string>("--dir") { Description = "Where the data set and model are written.", DefaultValueFactory = _ => "notebooks-data" };
        var perClass = new Option<int>("--images-per-class") { Description = "Images of each class to generate (at least 5: a fifth of them are held out).", DefaultValueFactory = _ => 120 }.AtLeast(5);
        var seed = CommonOptions.Seed("Seed for the images, the split and training.");
        var json = CommonOptions.Json();
        var command = new Command("demo", "Generate the Logo-vs-Other data set, train on it, evaluate, save, reload and predict, explaining each step.")
        {
            directory, perClass, seed, json,
        };
        Verb.SetAction(command, (result, token) => Run(result.GetValue(directory)!, result.GetValue(perClass), result.GetValue(seed), result.GetValue(json), token));
        return command;
    }

    /// <summary>The JSON line of <c>demo --json</c>.</summary>
    internal sealed record Summary(double Accuracy, double MacroAccuracy, double LogLoss, int TrainImages, int TestImages, IReadOnlyList<string> Classes,
        double FeaturizeImagesPerS, double ReloadMaxScoreDifference, double Seconds, string Model);

    private static int Run(string directory, int perClass, int seed, bool json, CancellationToken token)
    {
        var clock = Stopwatch.StartNew();
        var dataDir = Path.Combine(directory, "logo-vs-other");
        var modelPath = Path.Combine(directory, "logo-model.zip");

        Output.Step($"1. Drawing {perClass} images with our logo and {perClass} without it into {Path.GetFullPath(dataDir)}/ (seed {seed}).");
        Output.Step("   The logo is composited at random positions, sizes, rotations and opacities onto gradients, noise, shapes and text-like strokes.");
        var images = LogoDataset.Generate(dataDir, new LogoDatasetOptions { ImagesPerClass = perClass, Seed = seed });
        token.ThrowIfCancellationRequested();

        var split = DataSplit.Stratified(images, 0.2, (ulong)seed);
        Output.Step($"2. Splitting by label, 80/20: {split.Train.Count} training and {split.Test.Count} test images.");

        Output.Step("3. Featurizing the training images with the embedded ImageNet ResNet18 (batched, all cores), then training a softmax head on the 512 features.");
        var mlContext = new MLContext(seed);
        var options = new ImageClassifierOptions { Head = new SoftmaxHeadOptions { Seed = seed } };
        var trained = Output.WithProgress("featurizing", (progress, epochs) => ClassifierWorkflow.Train(mlContext, split, options, progress, epochs, token));
        // Disposing the loaded chain deletes the temporary copy of its ONNX graph that ML.NET writes (30+ MB a load).
        using var releaseTrained = trained.Model as IDisposable;
        var test = trained.Test!;
        Output.Step($"   head: best epoch {trained.BestEpoch}; featurized at {trained.Images!.ImagesPerSecond:F1} img/s.");
        Output.Step($"4. Test accuracy {test.Accuracy:F3} (log-loss {test.LogLoss:F3}) on {test.Images} held-out images.");
        Output.Step(test.ConfusionTable);

        token.ThrowIfCancellationRequested();
        ModelFiles.Save(mlContext, trained.Model, trained.InputSchema!, modelPath);
        Output.Step($"5. Saved the whole pipeline with mlContext.Model.Save: {Path.GetFullPath(modelPath)} ({new FileInfo(modelPath).Length / 1e6:F1} MB, ResNet18 graph inside).");

        var fresh = new MLContext(seed);
        var loaded = ModelFiles.Load(fresh, modelPath);
        using var releaseLoaded = loaded as IDisposable;
        Output.Step("6. Loaded it in a fresh MLContext with plain mlContext.Model.Load (no registration) and predicting a few test images:");
        using var before = mlContext.Model.CreatePredictionEngine<LabeledImage, PredictCommand.Prediction>(trained.Model, new PredictionEngineOptions { OwnsTransformer = false });
        using var after = fresh.Model.CreatePredictionEngine<LabeledImage, PredictCommand.Prediction>(loaded, new PredictionEngineOptions { OwnsTransformer = false });
        double maxDiff = 0;
        var samples = split.Test.Where(i => i.Label == LogoDataset.LogoLabel).Take(3).Concat(split.Test.Where(i => i.Label == LogoDataset.OtherLabel).Take(3));
        foreach (var image in samples)
        {
            var p = after.Predict(new LabeledImage(image.ImagePath, ""));
            var q = before.Predict(new LabeledImage(image.ImagePath, ""));
            maxDiff = Math.Max(maxDiff, p.Score.Zip(q.Score, (a, b) => Math.Abs(a - b)).Max());
            Output.Step($"   {Path.GetFileName(image.ImagePath),-16} true {image.Label,-6} predicted {p.PredictedLabelValue,-6} p={p.Score.Max():F3}");
        }
        Output.Step($"   scores after reload differ from before by at most {maxDiff:E1}.");
        Output.Step($"Done in {clock.Elapsed.TotalSeconds:F1} s. Try: mlnet-classify predict --model {modelPath} {Path.Combine(dataDir, "logo")}");
        if (json)
        {
            Output.JsonLine(new Summary(test.Accuracy, test.MacroAccuracy, test.LogLoss, trained.Images.Features.Rows, test.Images, trained.Classes,
                trained.Images.ImagesPerSecond, maxDiff, clock.Elapsed.TotalSeconds, Path.GetFullPath(modelPath)), CliJson.Default.DemoSummary);
        }
        return 0;
    }
}

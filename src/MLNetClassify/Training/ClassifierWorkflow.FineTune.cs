using System.Diagnostics;
using Microsoft.ML;
using MLNetClassify.Backbones;
using MLNetClassify.Data;
using MLNetClassify.Featurization;
using MLNetClassify.Heads;
using MLNetClassify.Images;
using MLNetClassify.Learning;
using MLNetClassify.Models;
using Onnx2 = MLNetClassify.Onnx;
using MLNetClassify.Tuning;

namespace MLNetClassify.Training;

public static partial class ClassifierWorkflow
{
    /// <summary>
    /// <see cref="Train"/> with the backbone's last stage fine-tuned (<see cref="ImageClassifierOptions.FineTuneStages"/>):
    /// the training images are run to the stage's input once (and their augmented views; cached as float16 when the
    /// featurizer options name a cache), the head is trained first on the untuned stage's pooled output, then stage and
    /// head together at lower rates with early stopping on validation images drawn from the training images; the saved
    /// chain carries the tuned stage in its featurizer graph (BatchNormalization folded). <paramref name="trunkGraph"/> is
    /// the featurizer graph to tune: a saved model's when retraining (a tuned one too), else null for the backbone's own.
    /// </summary>
    private static TrainingResult<ITransformer> TrainFineTuned(MLContext mlContext, DataSplit split, ImageClassifierOptions options, byte[]? trunkGraph,
        IProgress<FeaturizationProgress>? featurizationProgress, IProgress<EpochMetrics>? epochProgress, CancellationToken cancellationToken)
    {
        if (options.FineTuneStages != 1)
            throw new UnsuitableInputException($"Fine-tuning takes the last stage only (FineTuneStages 1); {options.FineTuneStages} stages were asked for.");
        var backbone = options.Backbone;
        StageFineTuner tuner;
        try
        {
            tuner = StageFineTuner.ResNet18(trunkGraph ?? FeaturizerGraph.Build(backbone));
        }
        catch (ArgumentException e)
        {
            throw new UnsuitableInputException($"Backbone '{backbone.Name}' cannot be fine-tuned: {e.Message}", e);
        }
        var (train, keyMapper) = KeyedTrainingData(mlContext, split);
        IReadOnlyList<string> classes = LabeledImageInput.LabelNames(keyMapper.Transform(train).Schema[LabelKeyColumn])!;
        var index = classes.Select((c, i) => (c, i)).ToDictionary(p => p.c, p => p.i, StringComparer.Ordinal);
        var clock = Stopwatch.StartNew();
        int views = Math.Max(1, options.AugmentedViews);
        var maps = tuner.Featurize(mlContext, backbone, split.Train.Select(i => ImageSource.FromFile(i.ImagePath)).ToList(), views, options.AugmentationSeed,
            options.Featurizer, featurizationProgress, cancellationToken);
        var featurizeTime = clock.Elapsed;
        var labels = maps.SourceIndices.Select(i => index[split.Train[i].Label]).ToArray();
        if (!options.AllowEmptyClasses && classes.Where((_, c) => !labels.Contains(c)).ToList() is { Count: > 0 } empty)
            throw new ArgumentException($"{empty.Count} of {classes.Count} classes have no readable training image: {string.Join(", ", empty.Take(5))}.");

        var history = new List<EpochMetrics>();
        // The step graphs run where the featurizer runs (CUDA falls back to the CPU when it cannot start).
        var tuningOptions = new StageFineTuningOptions { Training = new StageFineTuningOptions().Training with { Seed = options.Head.Seed, Device = options.Featurizer.Device } };
        var result = tuner.Tune(maps, labels, (features, rowLabels, v) =>
        {
            var head = new SoftmaxHeadTrainer(options.Head).Train(features, rowLabels, classes.Count, epochProgress, cancellationToken, views: v);
            history.AddRange(head.History);
            return head.Model;
        }, tuningOptions, new SyncProgress<StageEpochProgress>(p =>
        {
            var metrics = p.Metrics with { Phase = EpochPhase.FineTune, TimeLeft = p.Left };
            history.Add(metrics);
            epochProgress?.Report(metrics);
        }), cancellationToken);

        // A saved graph keeps its own storage: float16 when its pretrained weights are stored so.
        var storage = trunkGraph is null ? backbone.Weights : StoresHalf(trunkGraph) ? WeightStorage.Float16 : WeightStorage.Float32;
        var graph = StoredAs(tuner.FeaturizerWith(result), storage);
        var trunk = new ClassifierTrunk(graph, backbone.Name, backbone.ResizeSize, tuner.OutputChannels);
        var classifier = new ClassifierModel(trunk, result.Head, classes);
        var (model, inputSchema) = classifier.ToChain(mlContext, options.Featurizer.Device);
        EvaluationSummary? test = null;
        if (split.Test.Count > 0)
        {
            using var scorer = new ClassifierScorer(mlContext, classifier, backbone.Name, options.Featurizer);
            test = EvaluateThrough(scorer, split.Test, options.TestTimeViews, options.AugmentationSeed, cancellationToken);
        }
        // The stage's inputs stay with the tuner: Images records which training images were read, and when, with one
        // placeholder value per image in place of features.
        var images = new FeaturizationResult(new FeatureMatrix(new float[maps.Images], maps.Images, 1), [.. maps.SourceIndices], maps.Skipped, featurizeTime)
        {
            CacheHits = maps.CacheHits,
        };
        var trainedFiles = maps.SourceIndices.Select(i => split.Train[i].ImagePath).ToList();
        long parameters = result.StageParameters.Values.Sum(p => (long)p.Length) + result.Head.Weights.Length + result.Head.Bias.Length;
        return new TrainingResult<ITransformer>(model, classes, result.BestEpoch, history, parameters)
        {
            Images = images,
            InputSchema = inputSchema,
            Test = test,
            Tail = result.Head,
            TrunkGraph = graph,
            TrainedImages = new TrainedImageList(trainedFiles, trainedFiles.Select(_ => (string?)null).ToList()),
            FineTunedStages = 1,
        };
    }

    /// <summary>
    /// <paramref name="graph"/> with its float32 weights stored as float16 when <paramref name="weights"/> asks for it (as
    /// the featurizer graph stores the pretrained ones: the tuned stage's weights arrive as float32).
    /// </summary>
    private static byte[] StoredAs(byte[] graph, WeightStorage weights)
    {
        if (weights != WeightStorage.Float16)
            return graph;
        var model = global::Onnx.ModelProto.Parser.ParseFrom(graph);
        foreach (var initializer in model.Graph.Initializer.ToList())
            if (Onnx2.HalfPrecision.TryStore(initializer, model.Graph))
                model.Graph.Initializer.Remove(initializer);
        return Google.Protobuf.MessageExtensions.ToByteArray(model);
    }

    /// <summary>Whether <paramref name="graph"/> stores weights as float16 (constants cast back to float32).</summary>
    private static bool StoresHalf(byte[] graph) =>
        global::Onnx.ModelProto.Parser.ParseFrom(graph).Graph.Node.Any(n => n.OpType == "Constant"
            && n.Attribute.Any(a => a.T is { DataType: (int)global::Onnx.TensorProto.Types.DataType.Float16 }));
}

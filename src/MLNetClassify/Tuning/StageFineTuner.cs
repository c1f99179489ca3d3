using System.Diagnostics;
using Google.Protobuf;
using Microsoft.ML;
using Microsoft.ML.OnnxRuntime;
using MLNetClassify.Backbones;
using MLNetClassify.Data;
using MLNetClassify.Featurization;
using MLNetClassify.Images;
using MLNetClassify.Learning;
using Onnx;

namespace MLNetClassify.Tuning;

/// <summary>What a stage fine-tune produced: the stage's parameters (folded convolutions) and the head, at the best epoch.</summary>
/// <param name="StageParameters">The stage's weights and biases by initializer name, for <see cref="StageGraphs.WithStage"/>.</param>
/// <param name="Head">The head on the tuned stage's pooled features.</param>
/// <param name="BestEpoch">The epoch whose validation loss was lowest; 0 when none beat the head-only start (then the stage is untuned).</param>
/// <param name="History">Epoch 0 (the start) and every epoch run.</param>
internal sealed record StageFineTuningResult(IReadOnlyDictionary<string, float[]> StageParameters, SoftmaxLayer Head, int BestEpoch,
    IReadOnlyList<StageEpochProgress> History);

/// <summary>
/// Fine-tunes a backbone's last stage and the softmax head on it, fastai's way: the head is trained first on the
/// stage's pooled features (by the caller's head trainer), then stage and head together at lower rates
/// (<see cref="StageFineTuningOptions"/>), on the stage's inputs cached per image and view (<see cref="StageMaps"/>),
/// BatchNormalization folded and so frozen. <see cref="FeaturizerWith"/> puts the tuned stage back into the featurizer graph.
/// </summary>
internal sealed class StageFineTuner
{
    private const string HeadWeights = "mlnc_head_w", HeadBias = "mlnc_head_b";

    /// <summary>The stage between tensors <paramref name="from"/> ([C, H, W] = <paramref name="inputShape"/>) and <paramref name="to"/> (<paramref name="outputChannels"/> channels) of a pooled featurizer graph.</summary>
    public StageFineTuner(byte[] featurizerGraph, string from, string to, int[] inputShape, int outputChannels)
    {
        ArgumentNullException.ThrowIfNull(featurizerGraph);
        FeaturizerGraph = featurizerGraph;
        From = from;
        InputShape = inputShape;
        OutputChannels = outputChannels;
        Stage = StageGraphs.FoldedStage(featurizerGraph, from, to);
    }

    /// <summary>ResNet18's last stage (stage-3 maps 256×14×14 in, 512 channels out) in <paramref name="featurizerGraph"/>, a ResNet18 featurizer graph at 224.</summary>
    /// <exception cref="ArgumentException">The graph is not a pooled ResNet18 featurizer graph at 224 pixels.</exception>
    public static StageFineTuner ResNet18(byte[] featurizerGraph)
    {
        ArgumentNullException.ThrowIfNull(featurizerGraph);
        if (!Backbones.FeaturizerGraph.TryDescribe(ModelProto.Parser.ParseFrom(featurizerGraph), out var name, out int size, out int channels)
            || size != 224 || channels != BackboneTails.ResNet18Stage4Channels)
            throw new ArgumentException("Only ResNet18's pooled featurizer graph at 224 pixels has its last stage fine-tuned here" +
                (name.Length > 0 ? $"; this one is '{name}' at {size} pixels with {channels} features." : "; this graph is not one."), nameof(featurizerGraph));
        return new(featurizerGraph, BackboneTails.ResNet18Stage3, BackboneTails.ResNet18Stage4, [BackboneTails.ResNet18Stage3Channels, 14, 14], BackboneTails.ResNet18Stage4Channels);
    }

    public byte[] FeaturizerGraph { get; }
    public string From { get; }
    public int[] InputShape { get; }
    public int OutputChannels { get; }

    /// <summary>The stage, BatchNormalization folded, with the featurizer's weights.</summary>
    public ModelProto Stage { get; }

    /// <summary>The stage's inputs for <paramref name="images"/> and their augmented views (<see cref="StageMaps.Featurize"/>).</summary>
    public StageMaps Featurize(MLContext mlContext, BackboneSpec backbone, IReadOnlyList<ImageSource> images, int augmentedViews, int seed,
        FeaturizerOptions? options = null, IProgress<FeaturizationProgress>? progress = null, CancellationToken cancellationToken = default) =>
        StageMaps.Featurize(mlContext, backbone, FeaturizerGraph, From, InputShape, images, augmentedViews, seed, options, progress, cancellationToken);

    /// <summary>The stage's inputs for one view of <paramref name="images"/> (<see cref="StageMaps.FeaturizeView"/>): a fresh random crop per epoch for <see cref="Tune(StageMaps, IReadOnlyList{int}, IReadOnlyList{int}, IReadOnlyList{int}, SoftmaxLayer, StageFineTuningOptions?, IProgress{StageEpochProgress}?, CancellationToken, Func{int, CancellationToken, StageMaps}?)"/>.</summary>
    public StageMaps FeaturizeView(MLContext mlContext, BackboneSpec backbone, IReadOnlyList<ImageSource> images, int view, int seed,
        FeaturizerOptions? options = null, CancellationToken cancellationToken = default) =>
        StageMaps.FeaturizeView(mlContext, backbone, FeaturizerGraph, From, InputShape, images, view, seed, options, cancellationToken);

    /// <summary>
    /// The untuned stage's globally pooled output for <paramref name="rows"/> of <paramref name="maps"/>: the featurizer
    /// graph's features (up to the float16 storage of the maps), to train the starting head on.
    /// </summary>
    /// <exception cref="OperationCanceledException">Cancelled between batches.</exception>
    public FeatureMatrix Pool(StageMaps maps, IReadOnlyList<int> rows, int threads = 0, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(maps);
        // An identity Gemm after the tail's pooling: its "logits" are the pooled features, exactly (×1, +0).
        var identity = new float[OutputChannels * OutputChannels];
        for (int c = 0; c < OutputChannels; c++) identity[c * OutputChannels + c] = 1;
        var model = TailGraph.WithHead(Stage, OutputChannels, identity, new float[OutputChannels]);
        using var options = new SessionOptions { IntraOpNumThreads = threads > 0 ? threads : Environment.ProcessorCount };
        using var session = new InferenceSession(model.ToByteArray(), options);
        using var runOptions = new RunOptions();
        const int batch = 16;
        var features = new float[(long)rows.Count * OutputChannels];
        var x = new float[batch * maps.Values];
        for (int start = 0; start < rows.Count; start += batch)
        {
            cancellationToken.ThrowIfCancellationRequested();
            int count = Math.Min(batch, rows.Count - start);
            for (int i = 0; i < count; i++)
                maps.Read(rows[start + i], x.AsSpan(i * maps.Values, maps.Values));
            using var input = OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, x.AsMemory(0, count * maps.Values), [count, .. InputShape.Select(d => (long)d)]);
            using var results = session.Run(runOptions, [From], [input], ["logits"]);
            results[0].GetTensorDataAsSpan<float>().CopyTo(features.AsSpan(start * OutputChannels));
        }
        return new FeatureMatrix(features, rows.Count, OutputChannels);
    }

    /// <summary>
    /// Holds out validation images (stratified, <see cref="StageFineTuningOptions.ValidationFraction"/>), trains the
    /// starting head with <paramref name="trainHead"/> on the untuned stage's pooled features of the other images' rows
    /// (all views, in view blocks: features, labels, views), then fine-tunes stage and head.
    /// </summary>
    public StageFineTuningResult Tune(StageMaps maps, IReadOnlyList<int> labels, Func<FeatureMatrix, int[], int, SoftmaxLayer> trainHead,
        StageFineTuningOptions? options = null, IProgress<StageEpochProgress>? progress = null, CancellationToken cancellationToken = default,
        Func<int, CancellationToken, StageMaps>? epochView = null)
    {
        ArgumentNullException.ThrowIfNull(maps);
        ArgumentNullException.ThrowIfNull(trainHead);
        options ??= new StageFineTuningOptions();
        options.Validate();
        var (train, validation) = Holdout.Split(labels, options.ValidationFraction, options.Training.Seed);
        var rows = Enumerable.Range(0, maps.Views).SelectMany(v => train.Select(i => v * maps.Images + i)).ToArray();
        var head = trainHead(Pool(maps, rows, options.Training.IntraOpThreads, cancellationToken), rows.Select(r => labels[r % maps.Images]).ToArray(), maps.Views);
        return Tune(maps, labels, train, validation, head, options, progress, cancellationToken, epochView);
    }

    /// <summary>
    /// Fine-tunes stage and head from <paramref name="head"/> on every view of <paramref name="trainImages"/>, choosing the
    /// epoch by the loss on the plain view of <paramref name="validationImages"/> (never trained on); the best epoch's
    /// weights are returned, the head-only start's when no epoch beat it.
    /// </summary>
    /// <remarks>
    /// With <paramref name="epochView"/>, each epoch e also trains on the training images' rows of the one-view maps
    /// <c>epochView(e)</c> returns (same images in the same order as <paramref name="maps"/>), dropped after the epoch:
    /// a fresh augmentation per epoch without holding every epoch's maps.
    /// </remarks>
    /// <exception cref="ArgumentException">Sizes disagree, an image is in both lists, or a label is not a class of the head.</exception>
    /// <exception cref="OperationCanceledException">Cancelled between batches.</exception>
    public StageFineTuningResult Tune(StageMaps maps, IReadOnlyList<int> labels, IReadOnlyList<int> trainImages, IReadOnlyList<int> validationImages,
        SoftmaxLayer head, StageFineTuningOptions? options = null, IProgress<StageEpochProgress>? progress = null, CancellationToken cancellationToken = default,
        Func<int, CancellationToken, StageMaps>? epochView = null)
    {
        ArgumentNullException.ThrowIfNull(maps);
        ArgumentNullException.ThrowIfNull(head);
        options ??= new StageFineTuningOptions();
        options.Validate();
        if (labels.Count != maps.Images)
            throw new ArgumentException($"{labels.Count} labels for {maps.Images} images.", nameof(labels));
        if (head.Features != OutputChannels)
            throw new ArgumentException($"The head takes {head.Features} features; the stage gives {OutputChannels}.", nameof(head));
        if (trainImages.Count == 0 || validationImages.Count == 0 || trainImages.Intersect(validationImages).Any())
            throw new ArgumentException("Training and validation images must both be given, and apart.", nameof(validationImages));
        int extraRows = epochView is null ? 0 : maps.Images;
        var rowLabels = Enumerable.Range(0, maps.Rows + extraRows).Select(r => labels[r % maps.Images]).ToArray();
        var baseOrder = Enumerable.Range(0, maps.Views).SelectMany(v => trainImages.Select(i => v * maps.Images + i));
        var epochRows = trainImages.Select(i => maps.Rows + i);
        var order = (epochView is null ? baseOrder : options.EpochViewOnly ? epochRows : baseOrder.Concat(epochRows)).ToArray();
        var validationRows = validationImages.ToArray();

        using var trainer = new TailTrainer(TailGraph.FromModel(TailGraph.WithHead(Stage, OutputChannels, head.Weights, head.Bias), InputShape), options.Training);
        var clock = Stopwatch.StartNew();
        var history = new List<StageEpochProgress>();
        var stopping = new EarlyStopping(options.EarlyStoppingPatience);
        var (startLoss, startAccuracy) = trainer.Evaluate(maps.Read, rowLabels, validationRows, cancellationToken: cancellationToken);
        stopping.Report(0, startLoss);
        Report(new EpochMetrics(0, double.NaN, double.NaN, startLoss, startAccuracy, 0, true), TimeSpan.Zero);
        var best = trainer.Snapshot();
        int bestEpoch = 0, step = 0;
        int stepsPerEpoch = (order.Length + options.Training.BatchSize - 1) / options.Training.BatchSize, epochs = options.Training.Epochs, totalSteps = epochs * stepsPerEpoch;
        Func<int, float> scale = s => Schedules.Rate(options.Schedule, 1f, s, totalSteps);
        var rng = new Random(options.Training.Seed);
        for (int epoch = 1; epoch <= epochs; epoch++)
        {
            var epochStart = clock.Elapsed;
            rng.Shuffle(order);
            float rate = scale(step);
            TailRowReader read = maps.Read;
            if (epochView is not null)
            {
                var extra = epochView(epoch, cancellationToken);
                if (extra.Images != maps.Images || extra.Views != 1 || extra.Values != maps.Values)
                    throw new ArgumentException($"The epoch's view holds {extra.Images} images × {extra.Views} views; one view of the {maps.Images} images was expected.", nameof(epochView));
                read = (row, destination) => { if (row < maps.Rows) maps.Read(row, destination); else extra.Read(row - maps.Rows, destination); };
            }
            var (loss, accuracy) = trainer.TrainPass(read, rowLabels, order, scale, ref step, cancellationToken);
            read = maps.Read; // the epoch's view is dropped
            var (validationLoss, validationAccuracy) = trainer.Evaluate(maps.Read, rowLabels, validationRows, cancellationToken: cancellationToken);
            bool isBest = stopping.Report(epoch, validationLoss);
            if (isBest)
            {
                best = trainer.Snapshot();
                bestEpoch = epoch;
            }
            Report(new EpochMetrics(epoch, loss, accuracy, validationLoss, validationAccuracy, rate, isBest), (clock.Elapsed - epochStart) * (epochs - epoch));
            if (stopping.ShouldStop) break;
        }
        trainer.Restore(best);
        var values = trainer.Parameters.ToDictionary(p => p.Key, p => (float[])p.Value.Clone());
        var tunedHead = new SoftmaxLayer(values[HeadWeights], values[HeadBias], OutputChannels);
        values.Remove(HeadWeights);
        values.Remove(HeadBias);
        return new StageFineTuningResult(values, tunedHead, bestEpoch, history);

        void Report(EpochMetrics metrics, TimeSpan left)
        {
            var entry = new StageEpochProgress(metrics, clock.Elapsed, left);
            history.Add(entry);
            progress?.Report(entry);
        }
    }

    /// <summary>The featurizer graph with the tuned stage in place of its own (same input and output; BatchNormalization folded).</summary>
    public byte[] FeaturizerWith(StageFineTuningResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        return StageGraphs.WithStage(FeaturizerGraph, Stage, result.StageParameters);
    }

    /// <summary>
    /// Logits [rows, classes] of the tuned stage and head on <paramref name="rows"/> rows read by <paramref name="read"/>,
    /// computed by the same forward graph the fine-tune trained (<see cref="TailTrainer.Evaluate"/>).
    /// </summary>
    public float[] Logits(StageFineTuningResult result, TailRowReader read, int rows, int threads = 0)
    {
        ArgumentNullException.ThrowIfNull(result);
        var stage = StageGraphs.WithValues(Stage, result.StageParameters);
        using var trainer = new TailTrainer(TailGraph.FromModel(TailGraph.WithHead(stage, OutputChannels, result.Head.Weights, result.Head.Bias), InputShape),
            new TailTrainingOptions { IntraOpThreads = threads });
        var logits = new float[rows * result.Head.Classes];
        trainer.Evaluate(read, new int[rows], Enumerable.Range(0, rows).ToArray(), logits);
        return logits;
    }
}

using System.Numerics.Tensors;
using MLNetClassify.Data;
using MLNetClassify.Learning;
using MLNetClassify.Numerics;

namespace MLNetClassify.Heads;

/// <summary>The outcome of training a softmax head.</summary>
/// <param name="Model">The weights to use (the best epoch's, or the refit's).</param>
/// <param name="BestEpoch">The epoch whose validation loss was lowest (the last epoch without validation).</param>
/// <param name="History">One entry per epoch run, refit epochs included.</param>
internal sealed record SoftmaxHeadResult(SoftmaxLayer Model, int BestEpoch, IReadOnlyList<EpochMetrics> History);

/// <summary>
/// Trains a fully connected layer + softmax on fixed features with mini-batch SGD (Adam or momentum),
/// L2, a learning-rate schedule and early stopping on a held-out fraction. Deterministic for a seed:
/// all arithmetic runs on one thread in a fixed order.
/// </summary>
internal sealed class SoftmaxHeadTrainer
{
    private readonly SoftmaxHeadOptions _options;

    /// <summary>Creates a trainer; null options mean the defaults.</summary>
    internal SoftmaxHeadTrainer(SoftmaxHeadOptions? options = null)
    {
        _options = options ?? new SoftmaxHeadOptions();
        _options.Validate();
    }

    /// <summary>Trains on <paramref name="features"/> with class indices <paramref name="labels"/> in [0, classes).</summary>
    /// <exception cref="ArgumentException">Sizes disagree, a label is out of range, or a feature is not finite.</exception>
    /// <exception cref="OperationCanceledException">Cancelled through <paramref name="cancellationToken"/>.</exception>
    /// <remarks><paramref name="progress"/> receives one report per epoch; <paramref name="cancellationToken"/> stops training.</remarks>
    /// <param name="features">One row per image and view.</param>
    /// <param name="labels">Class index of each row.</param>
    /// <param name="classes">Number of classes.</param>
    /// <param name="progress">Receives one report per epoch; may be null.</param>
    /// <param name="cancellationToken">Stops training.</param>
    /// <param name="views">
    /// Rows come as this many blocks of equal size, one per view of the same images (block 0 the images as they are,
    /// the others augmented views in the same image order). The hold-out is drawn over images: every view of a held-out
    /// image leaves training, and validation scores the block-0 rows only, so early stopping never sees a view of an
    /// image it trained on.
    /// </param>
    /// <param name="initial">Weights to start from (a saved model's head, for a warm start); zeros when null.</param>
    /// <param name="known">
    /// With <paramref name="initial"/>: which classes it already knew (null: all). When some are new, they are fitted
    /// first against the known classes held fixed, then every class trains on with the known ones at
    /// <see cref="SoftmaxHeadOptions.KnownClassRate"/> of the learning rate (both phases with early stopping, and both
    /// repeated on all rows for the refit), so that what the old head knew moves little (docs/retraining.md).
    /// </param>
    /// <param name="seen">
    /// With <paramref name="initial"/>: which images (block 0) the starting head was trained on, when known. Validation
    /// rows are then drawn from the others, when they number at least twice the validation rows and every class has two,
    /// so early stopping is not misled by images the start already fits.
    /// </param>
    public SoftmaxHeadResult Train(FeatureMatrix features, IReadOnlyList<int> labels, int classes,
        IProgress<EpochMetrics>? progress = null, CancellationToken cancellationToken = default, int views = 1, SoftmaxLayer? initial = null,
        IReadOnlyList<bool>? known = null, IReadOnlyList<bool>? seen = null)
    {
        if (known is not null && (initial is null || known.Count != classes))
            throw new ArgumentException($"Known classes need a starting head and one flag per class ({classes}).", nameof(known));
        if (initial is not null && (initial.Classes != classes || initial.Features != features.Dimensions))
            throw new ArgumentException($"The initial head has {initial.Classes} classes × {initial.Features} features, the data {classes} × {features.Dimensions}.", nameof(initial));
        GradientTrainingOptions.CheckRows(features, labels, classes, "feature");
        if (views < 1 || features.Rows % views != 0)
            throw new ArgumentException($"{features.Rows} rows are not {views} blocks of equal size.", nameof(views));
        int images = features.Rows / views;
        for (int i = 0; i < features.Rows; i++)
            if (labels[i] != labels[i % images])
                throw new ArgumentException($"Row {i} (view {i / images} of image {i % images}) has label {labels[i]}, its image {labels[i % images]}.", nameof(labels));

        bool addsClasses = known is not null && known.Contains(false);
        // More images for the same classes: start from the old head shrunk (Ash & Adams, "On Warm-Starting Neural Network
        // Training", 2020): a head fitted to fewer images is over-confident on them, and early stopping would keep it so.
        if (initial is not null && !addsClasses && _options.WarmStartShrink != 1f)
            initial = new SoftmaxLayer(initial.Weights.Select(w => w * _options.WarmStartShrink).ToArray(), initial.Bias.Select(b => b * _options.WarmStartShrink).ToArray(), initial.Features);
        var all = Enumerable.Range(0, features.Rows).ToArray();
        var (train, validation) = _options.ValidationFraction > 0
            ? Holdout.Split(labels.Take(images).ToArray(), _options.ValidationFraction, _options.Seed)
            : (Enumerable.Range(0, images).ToArray(), Array.Empty<int>());
        if (seen is not null && _options.ValidationFraction > 0)
        {
            var unseen = Enumerable.Range(0, images).Where(i => !seen[i]).ToArray();
            int want = validation.Length;
            // Only when the unseen images can stand for every class (a new class alone would judge the old ones unseen).
            var present = labels.Take(images).Distinct();
            var unseenPerClass = unseen.GroupBy(i => labels[i]).ToDictionary(g => g.Key, g => g.Count());
            if (unseen.Length >= 2 * want && present.All(c => unseenPerClass.GetValueOrDefault(c) >= 2))
            {
                var (_, v) = Holdout.Split(unseen.Select(i => labels[i]).ToArray(), (float)want / unseen.Length, _options.Seed);
                validation = v.Select(j => unseen[j]).Order().ToArray();
                var held = validation.ToHashSet();
                train = Enumerable.Range(0, images).Where(i => !held.Contains(i)).ToArray();
            }
        }
        train = Enumerable.Range(0, views).SelectMany(v => train.Select(i => v * images + i)).ToArray();

        // One phase; with new classes two: them alone against the known ones (rate 0), then all, the known ones slowly.
        // Each phase starts where the one before ended; the refit on all rows repeats them for the epochs each chose.
        (EpochPhase Phase, EpochPhase Refit, float[]? Rates)[] phases = addsClasses
            ?
            [
                (EpochPhase.NewClasses, EpochPhase.RefitNewClasses, known!.Select(k => k ? 0f : 1f).ToArray()),
                (EpochPhase.Train, EpochPhase.Refit, known!.Select(k => k ? _options.KnownClassRate : 1f).ToArray()),
            ]
            : [(EpochPhase.Train, EpochPhase.Refit, null)];
        var history = new List<EpochMetrics>();
        var bestEpochs = new int[phases.Length];
        var model = initial;
        for (int p = 0; p < phases.Length; p++)
            (model, bestEpochs[p]) = RunEpochs(features, labels, classes, train, validation, phases[p].Phase, _options.Epochs, history, progress, cancellationToken, model, phases[p].Rates);
        if (validation.Length == 0 || !_options.RefitOnAllRows)
            return new SoftmaxHeadResult(model!, bestEpochs[^1], history);

        var refit = initial;
        for (int p = 0; p < phases.Length; p++)
            refit = RunEpochs(features, labels, classes, all, [], phases[p].Refit, bestEpochs[p], history, progress, cancellationToken, refit, phases[p].Rates).Model;
        return new SoftmaxHeadResult(refit!, bestEpochs[^1], history);
    }

    private (SoftmaxLayer Model, int BestEpoch) RunEpochs(
        FeatureMatrix features, IReadOnlyList<int> labels, int classes, int[] train, int[] validation,
        EpochPhase phase, int epochs, List<EpochMetrics> history, IProgress<EpochMetrics>? progress, CancellationToken cancellationToken, SoftmaxLayer? initial,
        float[]? classRates)
    {
        int d = features.Dimensions;
        var scaler = FeatureStandardizer.Fit(features, train, _options.Standardize);
        var x = scaler.Apply(features);

        // Parameters as one flat vector: W (classes × d, row-major) then b (classes).
        int wSize = classes * d;
        var theta = initial is null ? new float[wSize + classes] : scaler.Unfold(initial);
        // Per-class learning-rate factors act on each step (Adam's step is proportional to the rate): θ ← θ₀ + f·(θ₁ − θ₀).
        var before = classRates is null ? null : new float[theta.Length];
        var grad = new float[theta.Length];
        var tracker = new EpochTracker(theta, _options.EarlyStoppingPatience, phase, history, progress);
        var optimizer = ParameterOptimizer.Create(_options.Optimizer, theta.Length, _options.Momentum);
        var rng = new Random(_options.Seed);
        var order = (int[])train.Clone();
        var logits = new float[classes];
        float smoothing = _options.LabelSmoothing;

        for (int epoch = 0; epoch < epochs; epoch++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            float lr = Schedules.Rate(_options.Schedule, _options.LearningRate, epoch, _options.Epochs);
            rng.Shuffle(order);
            double lossSum = 0;
            int correct = 0;
            for (int start = 0; start < order.Length; start += _options.BatchSize)
            {
                int count = Math.Min(_options.BatchSize, order.Length - start);
                Array.Clear(grad);
                for (int i = start; i < start + count; i++)
                {
                    int row = order[i];
                    var xi = x.Row(row);
                    ComputeLogits(theta, xi, classes, d, logits);
                    if (ArgMax(logits) == labels[row]) correct++;
                    lossSum += Kernels.CrossEntropyWithGradient(logits, labels[row], logits);
                    if (smoothing > 0)
                    {
                        // Target (1 − ε)·onehot + ε/K: the gradient p − target is p − onehot plus ε·(onehot − 1/K).
                        for (int k = 0; k < classes; k++)
                            logits[k] -= smoothing / classes;
                        logits[labels[row]] += smoothing;
                    }
                    for (int k = 0; k < classes; k++)
                        TensorPrimitives.MultiplyAdd(xi, logits[k], grad.AsSpan(k * d, d), grad.AsSpan(k * d, d));
                    TensorPrimitives.Add(grad.AsSpan(wSize), logits, grad.AsSpan(wSize));
                }
                TensorPrimitives.Multiply(grad, 1f / count, grad);
                // d/dW of λ/2·‖W‖² is λ·W; biases are not penalised.
                TensorPrimitives.MultiplyAdd(theta.AsSpan(0, wSize), _options.L2, grad.AsSpan(0, wSize), grad.AsSpan(0, wSize));
                if (before is not null) theta.CopyTo(before, 0);
                optimizer.Step(theta, grad, lr);
                if (classRates is not null)
                    for (int k = 0; k < classes; k++)
                    {
                        if (classRates[k] == 1f) continue;
                        ScaleStep(before!.AsSpan(k * d, d), theta.AsSpan(k * d, d), classRates[k]);
                        ScaleStep(before!.AsSpan(wSize + k, 1), theta.AsSpan(wSize + k, 1), classRates[k]);
                    }
            }

            Func<(double, double)>? validate = validation.Length > 0 ? () => Evaluate(theta, x, labels, validation, classes, d) : null;
            if (tracker.EndEpoch(epoch, lossSum, correct, order.Length, lr, validate))
                break;
        }

        return (scaler.Fold(tracker.Best, classes), tracker.BestEpoch);
    }

    /// <summary>after ← before + f·(after − before).</summary>
    private static void ScaleStep(ReadOnlySpan<float> before, Span<float> after, float f)
    {
        for (int i = 0; i < after.Length; i++)
            after[i] = before[i] + f * (after[i] - before[i]);
    }

    private static void ComputeLogits(float[] theta, ReadOnlySpan<float> x, int classes, int d, Span<float> logits)
    {
        int wSize = classes * d;
        for (int k = 0; k < classes; k++)
            logits[k] = TensorPrimitives.Dot(theta.AsSpan(k * d, d), x) + theta[wSize + k];
    }

    private static int ArgMax(ReadOnlySpan<float> values) => TensorPrimitives.IndexOfMax(values);

    private static (double Loss, double Accuracy) Evaluate(float[] theta, FeatureMatrix x, IReadOnlyList<int> labels, int[] rows, int classes, int d)
    {
        var logits = new float[classes];
        double loss = 0;
        int correct = 0;
        foreach (int row in rows)
        {
            ComputeLogits(theta, x.Row(row), classes, d, logits);
            if (ArgMax(logits) == labels[row]) correct++;
            Kernels.LogSoftmax(logits, logits);
            loss -= logits[labels[row]];
        }
        return (loss / rows.Length, (double)correct / rows.Length);
    }
}

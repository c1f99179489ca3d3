using System.Numerics.Tensors;
using MLNetClassify.Data;
using MLNetClassify.Learning;

namespace MLNetClassify.Perceptrons;

/// <summary>The outcome of training a perceptron.</summary>
/// <param name="Model">The best epoch's weights, with input scaling folded in (takes 0–255 pixels).</param>
/// <param name="BestEpoch">The epoch whose validation loss was lowest (the last epoch without validation).</param>
/// <param name="History">One entry per epoch run.</param>
/// <param name="TrainedParameters">Weights and biases trained (a sigmoid unit's are half the saved two-row layer's).</param>
internal sealed record PerceptronResult(PerceptronModel Model, int BestEpoch, IReadOnlyList<EpochMetrics> History, long TrainedParameters);

/// <summary>
/// Trains a perceptron (no hidden layer: the single-layer perceptron; hidden ReLU layers: an MLP) on raw pixel
/// planes with mini-batch back-propagation, sharing the softmax head's optimizers, schedules, stratified hold-out
/// and early stopping. Deterministic for a seed: work is split across cores by output unit or by row, never by
/// summing partial results from several threads.
/// </summary>
internal sealed partial class PerceptronTrainer
{
    private readonly PerceptronOptions _options;

    /// <summary>Creates a trainer; null options mean the single-layer defaults.</summary>
    internal PerceptronTrainer(PerceptronOptions? options = null)
    {
        _options = options ?? new PerceptronOptions();
        _options.Validate();
    }

    /// <summary>Trains on <paramref name="pixels"/> (0–255 values, one row per image) with class indices in [0, classes).</summary>
    /// <exception cref="ArgumentException">Sizes disagree, a label is out of range, a value is not finite, or the sigmoid output is asked for more than two classes.</exception>
    /// <exception cref="OperationCanceledException">Cancelled through <paramref name="cancellationToken"/>.</exception>
    /// <remarks><paramref name="progress"/> receives one report per epoch; <paramref name="cancellationToken"/> stops training.</remarks>
    public PerceptronResult Train(FeatureMatrix pixels, IReadOnlyList<int> labels, int classes,
        IProgress<EpochMetrics>? progress = null, CancellationToken cancellationToken = default)
    {
        GradientTrainingOptions.CheckRows(pixels, labels, classes, "pixel");
        if (_options.SigmoidOutput && classes != 2)
            throw new ArgumentException($"The sigmoid output has one unit and suits two classes; the labels have {classes}. Set SigmoidOutput = false for a softmax output.", nameof(classes));

        var (train, validation) = _options.ValidationFraction > 0
            ? Holdout.Split(labels, _options.ValidationFraction, _options.Seed)
            : (Enumerable.Range(0, pixels.Rows).ToArray(), Array.Empty<int>());
        bool sigmoid = _options.SigmoidOutput;
        var network = new Network(pixels.Dimensions, _options.HiddenLayers, sigmoid ? 1 : classes, _options.BatchSize, sigmoid);
        var negativeMean = NegativeMean(pixels, train);
        var theta = network.InitialParameters(_options.Seed);
        var grad = new float[theta.Length];
        var history = new List<EpochMetrics>();
        var tracker = new EpochTracker(theta, _options.EarlyStoppingPatience, EpochPhase.Train, history, progress);
        var optimizer = ParameterOptimizer.Create(_options.Optimizer, theta.Length, _options.Momentum);
        var rng = new Random(_options.Seed);
        var order = (int[])train.Clone();

        for (int epoch = 0; epoch < _options.Epochs; epoch++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            float lr = Schedules.Rate(_options.Schedule, _options.LearningRate, epoch, _options.Epochs);
            rng.Shuffle(order);
            double lossSum = 0;
            int correct = 0;
            for (int start = 0; start < order.Length; start += _options.BatchSize)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var batch = order.AsSpan(start, Math.Min(_options.BatchSize, order.Length - start));
                network.LoadInputs(pixels, batch, negativeMean);
                network.Forward(theta, batch.Length);
                var (loss, hits) = network.OutputGradient(labels, batch, scale: 1f / batch.Length);
                lossSum += loss;
                correct += hits;
                network.Backward(theta, grad, batch.Length);
                network.AddWeightDecay(theta, grad, _options.L2);
                optimizer.Step(theta, grad, lr);
            }

            Func<(double, double)>? validate = validation.Length > 0 ? () => Evaluate(network, theta, pixels, labels, validation, negativeMean) : null;
            if (tracker.EndEpoch(epoch, lossSum, correct, order.Length, lr, validate))
                break;
        }

        return new PerceptronResult(network.ToModel(tracker.Best, negativeMean), tracker.BestEpoch, history, network.ParameterCount);
    }

    private static (double Loss, double Accuracy) Evaluate(
        Network network, float[] theta, FeatureMatrix pixels, IReadOnlyList<int> labels, int[] rows, float[] negativeMean)
    {
        double loss = 0;
        int correct = 0;
        for (int start = 0; start < rows.Length; start += network.MaxBatch)
        {
            var batch = rows.AsSpan(start, Math.Min(network.MaxBatch, rows.Length - start));
            network.LoadInputs(pixels, batch, negativeMean);
            network.Forward(theta, batch.Length);
            var (l, hits) = network.OutputGradient(labels, batch, scale: 0f);
            loss += l;
            correct += hits;
        }
        return (loss / rows.Length, (double)correct / rows.Length);
    }

    /// <summary>−mean of the 0–1 scaled pixels over the training rows: the training inputs are x/255 − mean.</summary>
    private static float[] NegativeMean(FeatureMatrix pixels, int[] rows)
    {
        var sum = new double[pixels.Dimensions];
        foreach (int r in rows)
        {
            var row = pixels.Row(r);
            for (int j = 0; j < sum.Length; j++)
                sum[j] += row[j];
        }
        return sum.Select(s => (float)(-s / rows.Length / 255.0)).ToArray();
    }
}

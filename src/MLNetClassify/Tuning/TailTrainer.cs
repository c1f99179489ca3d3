using Microsoft.ML.OnnxRuntime;
using MLNetClassify.Backbones;
using MLNetClassify.Learning;

namespace MLNetClassify.Tuning;

/// <summary>
/// Trains a <see cref="TailGraph"/> on cached inputs by running its <see cref="StepGraph"/> in an ONNX Runtime
/// session per batch and updating the parameters in C#. Owns the session and the OrtValues, which wrap the
/// parameter, gradient and batch arrays once and are reused by every step: an update in place is what the next
/// step reads.
/// </summary>
internal sealed partial class TailTrainer : IDisposable
{
    private readonly TailTrainingOptions _options;
    private readonly InferenceSession _session;
    private readonly RunOptions _runOptions = new();
    private readonly List<Group> _groups = [];
    private readonly Dictionary<int, Batch> _batches = [];
    private readonly float[] _loss = new float[1];
    private readonly OrtValue _lossValue;

    private sealed record Group(string Name, float[] Values, float[] Gradient, OrtValue Value, OrtValue GradientValue, float LearningRate,
        bool Decays, ParameterOptimizer Optimizer);

    /// <summary>Builds the step graph and opens its session on <see cref="TailTrainingOptions.Device"/> (the CPU when CUDA cannot start; <see cref="FallbackReason"/> says why).</summary>
    public TailTrainer(TailGraph tail, TailTrainingOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(tail);
        _options = options ?? new TailTrainingOptions();
        _options.Validate();
        Tail = tail;
        Step = StepGraph.Build(tail, _options.LabelSmoothing);
        _lossValue = OrtValue.CreateTensorValueFromMemory(_loss, []);
        try
        {
            _session = OrtSessions.Create(Step.Model, _options.IntraOpThreads > 0 ? _options.IntraOpThreads : Environment.ProcessorCount,
                _options.Device, requireDevice: false, tf32: false, out var actual, out var reason, arena: _options.MemoryArena);
            Device = actual;
            FallbackReason = reason;
            var convParameters = tail.Nodes.Where(n => n.OpType == "Conv").SelectMany(n => n.Input.Skip(1)).ToHashSet();
            foreach (var p in tail.Parameters)
            {
                var values = Onnx.OnnxBuild.ReadFloats(p);
                var gradient = new float[values.Length];
                float rate = _options.LearningRates is { } rates && rates.TryGetValue(p.Name, out var r) ? r
                    : convParameters.Contains(p.Name) ? _options.ConvLearningRate : _options.HeadLearningRate;
                _groups.Add(new Group(p.Name, values, gradient, OrtValue.CreateTensorValueFromMemory(values, [.. p.Dims]),
                    OrtValue.CreateTensorValueFromMemory(gradient, [.. p.Dims]), rate, p.Dims.Count >= 2,
                    ParameterOptimizer.Create(_options.Optimizer, values.Length, _options.Momentum)));
            }
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public TailGraph Tail { get; }
    public StepGraph Step { get; }
    public ExecutionDevice Device { get; }
    public string? FallbackReason { get; }

    /// <summary>The current parameters by name (the arrays the trainer updates).</summary>
    public IReadOnlyDictionary<string, float[]> Parameters => _groups.ToDictionary(g => g.Name, g => g.Values);

    /// <summary>The forward-only graph with the current parameters as initializers.</summary>
    public byte[] InferenceModel() => Tail.InferenceModel(Parameters);

    /// <summary>
    /// Epochs of mini-batch steps over <paramref name="inputs"/> (rows of C·H·W, the tail's input shape) in a seeded
    /// random order; reports each epoch's mean loss and accuracy (measured during the epoch) to <paramref name="progress"/>.
    /// </summary>
    /// <exception cref="ArgumentException">Sizes disagree, a label is not a class, or a value is not finite.</exception>
    /// <exception cref="OperationCanceledException">Cancelled between batches; the parameters keep the last step's values.</exception>
    public IReadOnlyList<EpochMetrics> Train(float[] inputs, int[] labels, IProgress<EpochMetrics>? progress = null, CancellationToken cancellationToken = default)
    {
        int rows = CheckRows(inputs, labels);
        int per = inputs.Length / rows;
        var rng = new Random(_options.Seed);
        var order = Enumerable.Range(0, rows).ToArray();
        var history = new List<EpochMetrics>();
        for (int epoch = 1; epoch <= _options.Epochs; epoch++)
        {
            rng.Shuffle(order);
            double lossSum = 0;
            int correct = 0;
            for (int start = 0; start < rows; start += _options.BatchSize)
            {
                cancellationToken.ThrowIfCancellationRequested();
                int count = Math.Min(_options.BatchSize, rows - start);
                var batch = Fill(inputs, labels, order.AsSpan(start, count), per);
                Run(batch);
                lossSum += _loss[0] * count;
                correct += batch.Correct(labels, order.AsSpan(start, count));
                foreach (var g in _groups)
                {
                    if (g.Decays && _options.WeightDecay > 0)
                        System.Numerics.Tensors.TensorPrimitives.Multiply(g.Values, 1 - g.LearningRate * _options.WeightDecay, g.Values);
                    g.Optimizer.Step(g.Values, g.Gradient, g.LearningRate);
                }
            }
            var metrics = new EpochMetrics(epoch, lossSum / rows, (double)correct / rows, null, null, _options.HeadLearningRate, false);
            history.Add(metrics);
            progress?.Report(metrics);
        }
        return history;
    }

    /// <summary>The step graph's logits for <paramref name="inputs"/> at the current parameters (a step's gradients are computed and dropped).</summary>
    public float[] StepLogits(float[] inputs, int[] labels)
    {
        int rows = CheckRows(inputs, labels);
        var batch = Fill(inputs, labels, Enumerable.Range(0, rows).ToArray(), inputs.Length / rows);
        Run(batch);
        return (float[])batch.Logits.Clone();
    }

    private void Run(Batch batch)
    {
        string[] inputNames = [Tail.InputName, StepGraph.TargetsName, .. _groups.Select(g => g.Name)];
        OrtValue[] inputValues = [batch.XValue, batch.TargetsValue, .. _groups.Select(g => g.Value)];
        string[] outputNames = [StepGraph.LossName, Tail.OutputName, .. _groups.Select(g => StepGraph.GradientName(g.Name))];
        OrtValue[] outputValues = [_lossValue, batch.LogitsValue, .. _groups.Select(g => g.GradientValue)];
        _session.Run(_runOptions, inputNames, inputValues, outputNames, outputValues);
    }

    public void Dispose()
    {
        foreach (var b in _batches.Values) b.Dispose();
        foreach (var g in _groups)
        {
            g.Value.Dispose();
            g.GradientValue.Dispose();
        }
        _lossValue?.Dispose();
        _runOptions.Dispose();
        _forward?.Dispose();
        _session?.Dispose();
    }
}

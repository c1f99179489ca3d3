using MLNetClassify.Backbones;
using MLNetClassify.Learning;

namespace MLNetClassify.Tuning;

/// <summary>
/// How <see cref="TailTrainer"/> trains a tail: parameters read by a Conv form one group at
/// <see cref="ConvLearningRate"/>, every other parameter (the head) a group at <see cref="HeadLearningRate"/>;
/// <see cref="LearningRates"/> overrides single parameters by name.
/// </summary>
internal sealed record TailTrainingOptions
{
    public int Epochs { get; init; } = 5;
    public int BatchSize { get; init; } = 32;

    /// <summary>Adam with decoupled weight decay (AdamW), or SGD with heavy-ball momentum (decay applied the same decoupled way).</summary>
    public HeadOptimizer Optimizer { get; init; } = HeadOptimizer.Adam;

    public float HeadLearningRate { get; init; } = 1e-3f;
    public float ConvLearningRate { get; init; } = 1e-4f;
    public IReadOnlyDictionary<string, float>? LearningRates { get; init; }

    /// <summary>Momentum for SGD; β1 for Adam.</summary>
    public float Momentum { get; init; } = 0.9f;

    /// <summary>Decoupled weight decay λ: θ ← θ·(1 − η·λ) before each step, on weights of rank ≥ 2 (not biases).</summary>
    public float WeightDecay { get; init; } = 1e-4f;

    public float LabelSmoothing { get; init; }

    /// <summary>
    /// Mixup strength m in [0, 1] for <see cref="TailTrainer.TrainPass"/>: each training row is mixed with another row of
    /// its batch, its own share λ drawn uniformly from [1 − m/2, 1]; 0 turns it off.
    /// </summary>
    public float Mixup { get; init; }
    public int Seed { get; init; } = 1;
    public ExecutionDevice Device { get; init; } = ExecutionDevice.Cpu;

    /// <summary>ONNX Runtime's intra-op threads; 0 for one per core.</summary>
    public int IntraOpThreads { get; init; }

    /// <summary>Let ONNX Runtime pool its CPU buffers (its arena); off keeps the peak memory of a large stage down.</summary>
    public bool MemoryArena { get; init; } = true;

    internal void Validate()
    {
        if (Epochs <= 0) throw new ArgumentOutOfRangeException(nameof(Epochs), Epochs, "Epochs must be positive.");
        if (BatchSize <= 0) throw new ArgumentOutOfRangeException(nameof(BatchSize), BatchSize, "BatchSize must be positive.");
        if (!(HeadLearningRate > 0) || !(ConvLearningRate >= 0))
            throw new ArgumentOutOfRangeException(nameof(HeadLearningRate), "The head's learning rate must be positive and the convolutions' zero or positive.");
        if (Momentum is < 0 or >= 1) throw new ArgumentOutOfRangeException(nameof(Momentum), Momentum, "Momentum must be in [0, 1).");
        if (Mixup is < 0 or > 1 || float.IsNaN(Mixup)) throw new ArgumentOutOfRangeException(nameof(Mixup), Mixup, "Mixup must be in [0, 1].");
        if (!(WeightDecay >= 0)) throw new ArgumentOutOfRangeException(nameof(WeightDecay), WeightDecay, "WeightDecay must be zero or positive.");
    }
}

using System.Numerics.Tensors;
using Microsoft.ML.OnnxRuntime;
using MLNetClassify.Backbones;
using MLNetClassify.Numerics;

namespace MLNetClassify.Tuning;

/// <summary>Writes the input values (C·H·W) of row <paramref name="row"/> into <paramref name="destination"/>.</summary>
internal delegate void TailRowReader(int row, Span<float> destination);

internal sealed partial class TailTrainer
{
    private InferenceSession? _forward;

    /// <summary>
    /// One pass of mini-batch steps over <paramref name="order"/> (rows read by <paramref name="read"/>, which keeps them
    /// in whatever storage it likes), each group at its rate times <paramref name="rateScale"/>(step) for the running step
    /// count <paramref name="step"/> (advanced here): a schedule over steps rather than epochs.
    /// </summary>
    /// <returns>Mean loss and accuracy over the pass, measured during it.</returns>
    /// <exception cref="OperationCanceledException">Cancelled between batches; the parameters keep the last step's values.</exception>
    public (double Loss, double Accuracy) TrainPass(TailRowReader read, IReadOnlyList<int> labels, int[] order, Func<int, float> rateScale,
        ref int step, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(rateScale);
        double lossSum = 0;
        int correct = 0;
        foreach (var (_, rows, batch) in Batches(read, labels, order, cancellationToken))
        {
            if (_options.Mixup > 0) Mix(batch, new Random(HashCode.Combine(_options.Seed, step)));
            Run(batch);
            if (!float.IsFinite(_loss[0]))
                throw new InvalidOperationException($"The training loss became {_loss[0]} at step {step}: the learning rates are too high for this data.");
            lossSum += _loss[0] * rows.Count;
            correct += batch.Correct(labels, rows);
            float scale = rateScale(step++);
            foreach (var g in _groups)
            {
                float rate = g.LearningRate * scale;
                if (g.Decays && _options.WeightDecay > 0)
                    TensorPrimitives.Multiply(g.Values, 1 - rate * _options.WeightDecay, g.Values);
                g.Optimizer.Step(g.Values, g.Gradient, rate);
            }
        }
        return (lossSum / order.Length, (double)correct / order.Length);
    }

    /// <summary>
    /// Mean cross-entropy (no label smoothing) and accuracy of the current parameters on <paramref name="rows"/>, forward
    /// only; with <paramref name="logits"/>, each row's logits are written there (row-major, in the order of <paramref name="rows"/>).
    /// </summary>
    /// <exception cref="OperationCanceledException">Cancelled between batches.</exception>
    public (double Loss, double Accuracy) Evaluate(TailRowReader read, IReadOnlyList<int> labels, int[] rows, float[]? logits = null,
        CancellationToken cancellationToken = default)
    {
        if (rows.Length == 0) return (double.NaN, double.NaN);
        // The loss graph (same inputs as the step, no gradients) in a session of its own, made on first use.
        _forward ??= OrtSessions.Create(StepGraph.Build(Tail, 0f, withGradients: false).Model,
            _options.IntraOpThreads > 0 ? _options.IntraOpThreads : Environment.ProcessorCount, Device, requireDevice: false, tf32: false, out _, out _, arena: _options.MemoryArena);
        int classes = Tail.Classes;
        var scratch = new float[classes];
        double loss = 0;
        int correct = 0;
        foreach (var (start, part, batch) in Batches(read, labels, rows, cancellationToken))
        {
            _forward.Run(_runOptions, [Tail.InputName, StepGraph.TargetsName, .. _groups.Select(g => g.Name)],
                [batch.XValue, batch.TargetsValue, .. _groups.Select(g => g.Value)], [Tail.OutputName], [batch.LogitsValue]);
            correct += batch.Correct(labels, part);
            for (int i = 0; i < part.Count; i++)
            {
                var row = batch.Logits.AsSpan(i * classes, classes);
                if (logits is not null) row.CopyTo(logits.AsSpan((start + i) * classes, classes));
                Kernels.LogSoftmax(row, scratch);
                loss -= scratch[labels[part[i]]];
            }
        }
        return (loss / rows.Length, (double)correct / rows.Length);
    }

    private float[]? _mixScratch;

    /// <summary>
    /// Mixup on the tail's inputs (manifold mixup at the cut): each row becomes λ·itself + (1 − λ)·another row of the
    /// batch, targets likewise, λ drawn uniformly from [1 − m/2, 1] (m: <see cref="TailTrainingOptions.Mixup"/>) so that a
    /// row's own label stays the larger part (and its accuracy is counted against it). Fixed cached views otherwise let a
    /// stage memorise the training images within an epoch.
    /// </summary>
    private void Mix(Batch batch, Random rng)
    {
        int n = batch.Targets.Length / batch.Classes, per = batch.X.Length / n, k = batch.Classes;
        if (n < 2) return;
        if (_mixScratch is null || _mixScratch.Length < batch.X.Length + batch.Targets.Length)
            _mixScratch = new float[batch.X.Length + batch.Targets.Length];
        batch.X.CopyTo(_mixScratch, 0);
        batch.Targets.CopyTo(_mixScratch, batch.X.Length);
        var partner = Enumerable.Range(0, n).ToArray();
        rng.Shuffle(partner);
        for (int i = 0; i < n; i++)
        {
            float lambda = 1 - _options.Mixup / 2 * (float)rng.NextDouble();
            int j = partner[i];
            var x = batch.X.AsSpan(i * per, per);
            TensorPrimitives.Multiply(x, lambda, x);
            TensorPrimitives.MultiplyAdd(_mixScratch.AsSpan(j * per, per), 1 - lambda, x, x);
            var t = batch.Targets.AsSpan(i * k, k);
            TensorPrimitives.Multiply(t, lambda, t);
            TensorPrimitives.MultiplyAdd(_mixScratch.AsSpan(batch.X.Length + j * k, k), 1 - lambda, t, t);
        }
    }

    /// <summary>A copy of every parameter's current values, in group order.</summary>
    public float[][] Snapshot() => _groups.Select(g => (float[])g.Values.Clone()).ToArray();

    /// <summary>Puts back values from <see cref="Snapshot"/> (into the arrays the sessions read).</summary>
    public void Restore(float[][] snapshot)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        if (snapshot.Length != _groups.Count)
            throw new ArgumentException($"{snapshot.Length} arrays for {_groups.Count} parameters.", nameof(snapshot));
        for (int i = 0; i < snapshot.Length; i++)
            snapshot[i].CopyTo(_groups[i].Values, 0);
    }

    /// <summary>The batches of <paramref name="rows"/> in order, each filled when reached; cancellation is checked before each.</summary>
    private IEnumerable<(int Start, ArraySegment<int> Rows, Batch Batch)> Batches(TailRowReader read, IReadOnlyList<int> labels, int[] rows, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(read);
        ArgumentNullException.ThrowIfNull(rows);
        for (int start = 0; start < rows.Length; start += _options.BatchSize)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var part = new ArraySegment<int>(rows, start, Math.Min(_options.BatchSize, rows.Length - start));
            yield return (start, part, Fill(read, labels, part));
        }
    }

    private Batch Fill(TailRowReader read, IReadOnlyList<int> labels, ReadOnlySpan<int> rows)
    {
        if (!_batches.TryGetValue(rows.Length, out var batch))
            _batches[rows.Length] = batch = new Batch(rows.Length, Tail.Shapes[Tail.InputName], Tail.Classes);
        int per = batch.X.Length / rows.Length;
        Array.Clear(batch.Targets);
        for (int i = 0; i < rows.Length; i++)
        {
            int label = labels[rows[i]];
            if ((uint)label >= (uint)Tail.Classes)
                throw new ArgumentException($"Label {label} of row {rows[i]} is outside [0, {Tail.Classes}).", nameof(labels));
            read(rows[i], batch.X.AsSpan(i * per, per));
            batch.Targets[i * Tail.Classes + label] = 1;
        }
        return batch;
    }
}

using Microsoft.ML.OnnxRuntime;

namespace MLNetClassify.Tuning;

internal sealed partial class TailTrainer
{
    /// <summary>The arrays of one batch size and the OrtValues over them, made once per size (the last batch may be smaller).</summary>
    private sealed class Batch : IDisposable
    {
        public Batch(int rows, long[] inputShape, int classes)
        {
            X = new float[rows * inputShape.Skip(1).Aggregate(1L, (p, d) => p * d)];
            Targets = new float[rows * classes];
            Logits = new float[rows * classes];
            XValue = OrtValue.CreateTensorValueFromMemory(X, [rows, .. inputShape.Skip(1)]);
            TargetsValue = OrtValue.CreateTensorValueFromMemory(Targets, [rows, classes]);
            LogitsValue = OrtValue.CreateTensorValueFromMemory(Logits, [rows, classes]);
            Classes = classes;
        }

        public float[] X { get; }
        public float[] Targets { get; }
        public float[] Logits { get; }
        public OrtValue XValue { get; }
        public OrtValue TargetsValue { get; }
        public OrtValue LogitsValue { get; }
        public int Classes { get; }

        /// <summary>Rows whose largest logit is their label.</summary>
        public int Correct(IReadOnlyList<int> labels, ReadOnlySpan<int> rows)
        {
            int correct = 0;
            for (int i = 0; i < rows.Length; i++)
            {
                var row = Logits.AsSpan(i * Classes, Classes);
                if (System.Numerics.Tensors.TensorPrimitives.IndexOfMax(row) == labels[rows[i]]) correct++;
            }
            return correct;
        }

        public void Dispose()
        {
            XValue.Dispose();
            TargetsValue.Dispose();
            LogitsValue.Dispose();
        }
    }

    private Batch Fill(float[] inputs, int[] labels, ReadOnlySpan<int> rows, int per)
    {
        if (!_batches.TryGetValue(rows.Length, out var batch))
            _batches[rows.Length] = batch = new Batch(rows.Length, Tail.Shapes[Tail.InputName], Tail.Classes);
        Array.Clear(batch.Targets);
        for (int i = 0; i < rows.Length; i++)
        {
            inputs.AsSpan(rows[i] * per, per).CopyTo(batch.X.AsSpan(i * per, per));
            batch.Targets[i * Tail.Classes + labels[rows[i]]] = 1;
        }
        return batch;
    }

    private int CheckRows(float[] inputs, int[] labels)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        ArgumentNullException.ThrowIfNull(labels);
        long per = Tail.Shapes[Tail.InputName].Skip(1).Aggregate(1L, (p, d) => p * d);
        if (labels.Length == 0 || inputs.Length != labels.Length * per)
            throw new ArgumentException($"{inputs.Length} input values for {labels.Length} labels; each row holds {per} ({string.Join("×", Tail.Shapes[Tail.InputName].Skip(1))}).", nameof(inputs));
        for (int i = 0; i < labels.Length; i++)
            if ((uint)labels[i] >= (uint)Tail.Classes)
                throw new ArgumentException($"Label {labels[i]} of row {i} is outside [0, {Tail.Classes}).", nameof(labels));
        if (!System.Numerics.Tensors.TensorPrimitives.IsFiniteAll<float>(inputs))
            throw new ArgumentException("The inputs contain NaN or infinity.", nameof(inputs));
        return labels.Length;
    }
}

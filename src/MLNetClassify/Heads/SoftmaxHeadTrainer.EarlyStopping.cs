using MLNetClassify.Featurization;

namespace MLNetClassify.Heads;

public sealed partial class SoftmaxHeadTrainer
{
    /// <summary>Tracks the lowest validation loss and says when patience has run out.</summary>
    internal sealed class EarlyStopping(int patience)
    {
        private double _bestLoss = double.PositiveInfinity;
        private int _bestEpoch = -1;
        private int _lastEpoch = -1;

        /// <summary>Records an epoch's validation loss; true when it is the best so far.</summary>
        public bool Report(int epoch, double validationLoss)
        {
            _lastEpoch = epoch;
            if (validationLoss < _bestLoss)
            {
                _bestLoss = validationLoss;
                _bestEpoch = epoch;
                return true;
            }
            return false;
        }

        /// <summary>True once <c>patience</c> epochs have passed without a better loss.</summary>
        public bool ShouldStop => _bestEpoch >= 0 && _lastEpoch - _bestEpoch >= patience;
    }

    /// <summary>
    /// Stratified hold-out: in each class, a seeded shuffle puts round(fraction·n) rows (never all of
    /// them) into validation. Classes with a single row stay in training.
    /// </summary>
    internal static (int[] Train, int[] Validation) StratifiedHoldout(IReadOnlyList<int> labels, int classes, float fraction, int seed)
    {
        var rng = new Random(seed);
        var train = new List<int>();
        var validation = new List<int>();
        for (int c = 0; c < classes; c++)
        {
            var rows = Enumerable.Range(0, labels.Count).Where(i => labels[i] == c).ToArray();
            rng.Shuffle(rows);
            int take = Math.Min(rows.Length - 1, (int)Math.Round(fraction * rows.Length, MidpointRounding.AwayFromZero));
            take = Math.Max(take, 0);
            validation.AddRange(rows.Take(take));
            train.AddRange(rows.Skip(take));
        }
        train.Sort();
        validation.Sort();
        return (train.ToArray(), validation.ToArray());
    }

    /// <summary>Per-feature standardization fitted on the training rows, and its folding into a linear layer.</summary>
    internal sealed class Standardizer
    {
        private readonly float[] _mean;
        private readonly float[] _scale; // 1/σ

        private Standardizer(float[] mean, float[] scale)
        {
            _mean = mean;
            _scale = scale;
        }

        public static Standardizer Fit(FeatureMatrix x, int[] rows, bool enabled)
        {
            int d = x.Dimensions;
            var mean = new float[d];
            var scale = new float[d];
            Array.Fill(scale, 1f);
            if (!enabled || rows.Length == 0)
                return new Standardizer(mean, scale);
            var sum = new double[d];
            var sumSq = new double[d];
            foreach (int r in rows)
            {
                var row = x.Row(r);
                for (int j = 0; j < d; j++)
                {
                    sum[j] += row[j];
                    sumSq[j] += (double)row[j] * row[j];
                }
            }
            for (int j = 0; j < d; j++)
            {
                double m = sum[j] / rows.Length;
                double variance = Math.Max(0, sumSq[j] / rows.Length - m * m);
                mean[j] = (float)m;
                // A constant feature (σ ≈ 0, e.g. a channel that is always zero after ReLU) is left unscaled.
                scale[j] = variance > 1e-12 ? (float)(1 / Math.Sqrt(variance)) : 1f;
            }
            return new Standardizer(mean, scale);
        }

        public FeatureMatrix Apply(FeatureMatrix x)
        {
            int d = x.Dimensions;
            var values = new float[x.Values.Length];
            for (int r = 0; r < x.Rows; r++)
            {
                var dst = values.AsSpan(r * d, d);
                System.Numerics.Tensors.TensorPrimitives.Subtract(x.Row(r), _mean, dst);
                System.Numerics.Tensors.TensorPrimitives.Multiply(dst, _scale, dst);
            }
            return new FeatureMatrix(values, x.Rows, d);
        }

        /// <summary>W·((x−μ)·s) + b = (W·s)·x + (b − Σ W·s·μ): the same logits on raw features.</summary>
        public SoftmaxHeadModel Fold(float[] theta, int classes)
        {
            int d = _mean.Length;
            var weights = new float[classes * d];
            var bias = new float[classes];
            for (int k = 0; k < classes; k++)
            {
                double b = theta[classes * d + k];
                for (int j = 0; j < d; j++)
                {
                    float w = theta[k * d + j] * _scale[j];
                    weights[k * d + j] = w;
                    b -= (double)w * _mean[j];
                }
                bias[k] = (float)b;
            }
            return new SoftmaxHeadModel(weights, bias, d);
        }
    }
}

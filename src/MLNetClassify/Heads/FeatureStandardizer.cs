using System.Numerics.Tensors;
using MLNetClassify.Data;
using MLNetClassify.Learning;

namespace MLNetClassify.Heads;

/// <summary>Per-feature standardization fitted on the training rows, and its folding into a linear layer.</summary>
internal sealed class FeatureStandardizer
{
    private readonly float[] _mean;
    private readonly float[] _scale; // 1/σ

    private FeatureStandardizer(float[] mean, float[] scale)
    {
        _mean = mean;
        _scale = scale;
    }

    public static FeatureStandardizer Fit(FeatureMatrix x, int[] rows, bool enabled)
    {
        int d = x.Dimensions;
        var mean = new float[d];
        var scale = new float[d];
        Array.Fill(scale, 1f);
        if (!enabled || rows.Length == 0)
            return new FeatureStandardizer(mean, scale);
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
        return new FeatureStandardizer(mean, scale);
    }

    public FeatureMatrix Apply(FeatureMatrix x)
    {
        int d = x.Dimensions;
        var values = new float[x.Values.Length];
        for (int r = 0; r < x.Rows; r++)
        {
            var dst = values.AsSpan(r * d, d);
            TensorPrimitives.Subtract(x.Row(r), _mean, dst);
            TensorPrimitives.Multiply(dst, _scale, dst);
        }
        return new FeatureMatrix(values, x.Rows, d);
    }

    /// <summary>W·((x−μ)·s) + b = (W·s)·x + (b − Σ W·s·μ): the same logits on raw features.</summary>
    public SoftmaxLayer Fold(float[] theta, int classes)
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
        return new SoftmaxLayer(weights, bias, d);
    }

    /// <summary>The inverse of <see cref="Fold"/>: parameters on standardized features giving <paramref name="raw"/>'s logits.</summary>
    public float[] Unfold(SoftmaxLayer raw)
    {
        int d = _mean.Length, classes = raw.Classes;
        var theta = new float[classes * d + classes];
        for (int k = 0; k < classes; k++)
        {
            double b = raw.Bias[k];
            for (int j = 0; j < d; j++)
            {
                float w = raw.Weights[k * d + j];
                theta[k * d + j] = w / _scale[j];
                b += (double)w * _mean[j];
            }
            theta[classes * d + k] = (float)b;
        }
        return theta;
    }
}

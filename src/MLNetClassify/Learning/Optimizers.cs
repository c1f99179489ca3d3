using System.Numerics.Tensors;

namespace MLNetClassify.Learning;

/// <summary>A first-order optimizer over one flat parameter vector; holds its own state.</summary>
internal abstract class ParameterOptimizer
{
    /// <summary>Updates <paramref name="parameters"/> in place from <paramref name="gradient"/>.</summary>
    public abstract void Step(Span<float> parameters, ReadOnlySpan<float> gradient, float learningRate);

    public static ParameterOptimizer Create(HeadOptimizer kind, int size, float momentum) => kind switch
    {
        HeadOptimizer.Adam => new Adam(size, momentum),
        HeadOptimizer.Momentum => new HeavyBall(size, momentum),
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "Unknown optimizer."),
    };

    private sealed class HeavyBall(int size, float momentum) : ParameterOptimizer
    {
        private readonly float[] _velocity = new float[size];

        public override void Step(Span<float> parameters, ReadOnlySpan<float> gradient, float learningRate)
        {
            // v = μ·v + g;  θ = θ − η·v
            TensorPrimitives.MultiplyAdd(_velocity, momentum, gradient, _velocity);
            TensorPrimitives.MultiplyAdd(_velocity, -learningRate, parameters, parameters);
        }
    }

    private sealed class Adam(int size, float beta1) : ParameterOptimizer
    {
        private const float Beta2 = 0.999f;
        private const float Epsilon = 1e-8f;
        private readonly float[] _m = new float[size];
        private readonly float[] _v = new float[size];
        private int _t;

        public override void Step(Span<float> parameters, ReadOnlySpan<float> gradient, float learningRate)
        {
            _t++;
            float c1 = 1 - MathF.Pow(beta1, _t);
            float c2 = 1 - MathF.Pow(Beta2, _t);
            float stepSize = learningRate * MathF.Sqrt(c2) / c1;
            for (int i = 0; i < parameters.Length; i++)
            {
                float g = gradient[i];
                _m[i] = beta1 * _m[i] + (1 - beta1) * g;
                _v[i] = Beta2 * _v[i] + (1 - Beta2) * g * g;
                parameters[i] -= stepSize * _m[i] / (MathF.Sqrt(_v[i]) + Epsilon);
            }
        }
    }
}

/// <summary>Learning rate for an epoch under a <see cref="LearningRateSchedule"/>.</summary>
internal static class Schedules
{
    public static float Rate(LearningRateSchedule schedule, float initial, int epoch, int totalEpochs) => schedule switch
    {
        LearningRateSchedule.Constant => initial,
        LearningRateSchedule.Cosine => totalEpochs <= 1
            ? initial
            : initial * (0.01f + 0.99f * 0.5f * (1 + MathF.Cos(MathF.PI * epoch / (totalEpochs - 1)))),
        LearningRateSchedule.Step => initial * (epoch >= totalEpochs * 3 / 4 ? 0.01f : epoch >= totalEpochs / 2 ? 0.1f : 1f),
        _ => throw new ArgumentOutOfRangeException(nameof(schedule), schedule, "Unknown schedule."),
    };
}

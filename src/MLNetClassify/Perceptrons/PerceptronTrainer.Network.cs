using System.Numerics.Tensors;
using MLNetClassify.Data;
using MLNetClassify.Numerics;

namespace MLNetClassify.Perceptrons;

internal sealed partial class PerceptronTrainer
{
    /// <summary>
    /// Layer layout over one flat parameter vector (per layer: W row-major outputs × inputs, then b) and the
    /// activation and gradient buffers of one mini-batch. Layer loops keep one weight row hot in cache while it
    /// meets every row of the batch.
    /// </summary>
    internal sealed class Network
    {
        private readonly int[] _units;          // input, hidden..., output
        private readonly int[] _weightOffset;   // per layer
        private readonly float[][] _activations; // per unit level: MaxBatch × units
        private readonly float[][] _gradients;   // dL/dz per level (index 0 unused)
        private readonly bool _sigmoid;

        public Network(int inputs, IReadOnlyList<int> hidden, int outputs, int maxBatch, bool sigmoid)
        {
            _units = [inputs, .. hidden, outputs];
            _sigmoid = sigmoid;
            MaxBatch = maxBatch;
            _weightOffset = new int[Layers];
            long offset = 0;
            for (int l = 0; l < Layers; l++)
            {
                _weightOffset[l] = checked((int)offset);
                offset += (long)_units[l] * _units[l + 1] + _units[l + 1];
            }
            ParameterCount = checked((int)offset);
            _activations = _units.Select(u => new float[(long)maxBatch * u]).ToArray();
            _gradients = _units.Select((u, i) => i == 0 ? [] : new float[(long)maxBatch * u]).ToArray();
        }

        public int Layers => _units.Length - 1;

        public int MaxBatch { get; }

        public int ParameterCount { get; }

        /// <summary>He-normal weights for ReLU layers; the output layer starts at zero without hidden layers (a convex problem) and small otherwise.</summary>
        public float[] InitialParameters(int seed)
        {
            var theta = new float[ParameterCount];
            var rng = new Random(seed);
            for (int l = 0; l < Layers; l++)
            {
                bool output = l == Layers - 1;
                if (output && Layers == 1) continue;
                float std = MathF.Sqrt((output ? 1f : 2f) / _units[l]);
                var w = Weights(theta, l);
                for (int i = 0; i < w.Length; i++)
                    w[i] = std * Gaussian(rng);
            }
            return theta;
        }

        /// <summary>Copies the batch's rows into the input buffer as x/255 − mean.</summary>
        public void LoadInputs(FeatureMatrix pixels, ReadOnlySpan<int> rows, float[] negativeMean)
        {
            int d = _units[0];
            for (int s = 0; s < rows.Length; s++)
                TensorPrimitives.MultiplyAdd(pixels.Row(rows[s]), 1f / 255f, negativeMean, _activations[0].AsSpan(s * d, d));
        }

        public void Forward(float[] theta, int batch)
        {
            for (int l = 0; l < Layers; l++)
            {
                int inputs = _units[l], outputs = _units[l + 1];
                var a = _activations[l];
                var z = _activations[l + 1];
                bool relu = l < Layers - 1;
                int wOffset = _weightOffset[l], bOffset = wOffset + inputs * outputs;
                Parallel.For(0, outputs, o =>
                {
                    var w = theta.AsSpan(wOffset + o * inputs, inputs);
                    float b = theta[bOffset + o];
                    for (int s = 0; s < batch; s++)
                    {
                        float v = TensorPrimitives.Dot(w, a.AsSpan(s * inputs, inputs)) + b;
                        z[s * outputs + o] = relu && v < 0 ? 0 : v;
                    }
                });
            }
        }

        /// <summary>Loss summed over the batch and correct predictions; writes dL/dz of the output layer times <paramref name="scale"/>.</summary>
        public (double Loss, int Correct) OutputGradient(IReadOnlyList<int> labels, ReadOnlySpan<int> rows, float scale)
        {
            int outputs = _units[^1];
            var z = _activations[^1];
            var g = _gradients[^1];
            double loss = 0;
            int correct = 0;
            for (int s = 0; s < rows.Length; s++)
            {
                int y = labels[rows[s]];
                if (_sigmoid)
                {
                    // −[y·log σ(z) + (1−y)·log(1−σ(z))] = softplus(z) − y·z, in a form that cannot overflow.
                    float v = z[s];
                    loss += MathF.Max(v, 0) + MathF.Log(1 + MathF.Exp(-MathF.Abs(v))) - y * v;
                    if ((v > 0 ? 1 : 0) == y) correct++;
                    g[s] = (1f / (1f + MathF.Exp(-v)) - y) * scale;
                }
                else
                {
                    var logits = z.AsSpan(s * outputs, outputs);
                    var gradient = g.AsSpan(s * outputs, outputs);
                    if (TensorPrimitives.IndexOfMax(logits) == y) correct++;
                    loss += Kernels.CrossEntropyWithGradient(logits, y, gradient);
                    TensorPrimitives.Multiply(gradient, scale, gradient);
                }
            }
            return (loss, correct);
        }

        /// <summary>Back-propagates the output gradient, writing every parameter's gradient to <paramref name="grad"/>.</summary>
        public void Backward(float[] theta, float[] grad, int batch)
        {
            for (int l = Layers - 1; l >= 0; l--)
            {
                int inputs = _units[l], outputs = _units[l + 1];
                var a = _activations[l];
                var g = _gradients[l + 1];
                int wOffset = _weightOffset[l], bOffset = wOffset + inputs * outputs;
                Parallel.For(0, outputs, o =>
                {
                    var gw = grad.AsSpan(wOffset + o * inputs, inputs);
                    gw.Clear();
                    float gb = 0;
                    for (int s = 0; s < batch; s++)
                    {
                        float v = g[s * outputs + o];
                        if (v == 0) continue; // a ReLU that was off: common, and free to skip
                        TensorPrimitives.MultiplyAdd(a.AsSpan(s * inputs, inputs), v, gw, gw);
                        gb += v;
                    }
                    grad[bOffset + o] = gb;
                });
                if (l == 0) break;

                var below = _gradients[l];
                Parallel.For(0, batch, s =>
                {
                    var gs = below.AsSpan(s * inputs, inputs);
                    gs.Clear();
                    for (int o = 0; o < outputs; o++)
                    {
                        float v = g[s * outputs + o];
                        if (v != 0)
                            TensorPrimitives.MultiplyAdd(theta.AsSpan(wOffset + o * inputs, inputs), v, gs, gs);
                    }
                    var activation = a.AsSpan(s * inputs, inputs);
                    for (int j = 0; j < inputs; j++)
                        if (activation[j] <= 0) gs[j] = 0; // ReLU'(z) = 0 where the unit was off
                });
            }
        }

        /// <summary>Adds λ·W to the weight gradients (biases are not penalised).</summary>
        public void AddWeightDecay(float[] theta, float[] grad, float l2)
        {
            if (l2 == 0) return;
            for (int l = 0; l < Layers; l++)
            {
                int count = _units[l] * _units[l + 1];
                var w = theta.AsSpan(_weightOffset[l], count);
                var gw = grad.AsSpan(_weightOffset[l], count);
                TensorPrimitives.MultiplyAdd(w, l2, gw, gw);
            }
        }

        /// <summary>
        /// The trained model on raw 0–255 pixels: W·(x/255 − μ) + b = (W/255)·x + (b − W·μ) folds the input scaling
        /// into the first layer; a sigmoid unit becomes the equivalent two-class softmax rows [0; w], [0; b].
        /// </summary>
        public PerceptronModel ToModel(float[] theta, float[] negativeMean)
        {
            var layers = new List<DenseLayer>();
            for (int l = 0; l < Layers; l++)
            {
                int inputs = _units[l], outputs = _units[l + 1];
                var w = Weights(theta, l).ToArray();
                var b = theta.AsSpan(_weightOffset[l] + inputs * outputs, outputs).ToArray();
                if (l == 0)
                {
                    for (int o = 0; o < outputs; o++)
                    {
                        var row = w.AsSpan(o * inputs, inputs);
                        b[o] += TensorPrimitives.Dot(row, negativeMean);
                        TensorPrimitives.Multiply(row, 1f / 255f, row);
                    }
                }
                if (_sigmoid && l == Layers - 1)
                {
                    w = [.. new float[inputs], .. w];
                    b = [0f, b[0]];
                }
                layers.Add(new DenseLayer(w, b, inputs));
            }
            return new PerceptronModel(layers);
        }

        private Span<float> Weights(float[] theta, int layer) =>
            theta.AsSpan(_weightOffset[layer], _units[layer] * _units[layer + 1]);

        private static float Gaussian(Random rng)
        {
            // Box–Muller; 1 − u keeps the logarithm's argument in (0, 1].
            double u = 1 - rng.NextDouble(), v = rng.NextDouble();
            return (float)(Math.Sqrt(-2 * Math.Log(u)) * Math.Cos(2 * Math.PI * v));
        }
    }
}

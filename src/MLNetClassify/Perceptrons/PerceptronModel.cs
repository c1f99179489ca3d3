using System.Numerics.Tensors;

namespace MLNetClassify.Perceptrons;

/// <summary>One fully connected layer: z = W·a + b, with W row-major (outputs × inputs).</summary>
/// <param name="Weights">Row-major weights, one row of <paramref name="Inputs"/> values per output.</param>
/// <param name="Bias">One bias per output.</param>
/// <param name="Inputs">Input length.</param>
internal sealed record DenseLayer(float[] Weights, float[] Bias, int Inputs)
{
    /// <summary>Output length.</summary>
    public int Outputs => Bias.Length;

    /// <summary>Weights plus biases.</summary>
    public long Parameters => (long)Weights.Length + Bias.Length;
}

/// <summary>
/// A trained perceptron on raw 0–255 pixel planes: hidden layers with ReLU, then a softmax layer. Input scaling
/// and centring used in training are folded into the first layer.
/// </summary>
internal sealed class PerceptronModel
{
    /// <summary>Wraps layers whose sizes chain (each layer's inputs = the previous layer's outputs).</summary>
    /// <exception cref="ArgumentException">No layer, or the sizes do not chain.</exception>
    public PerceptronModel(IReadOnlyList<DenseLayer> layers)
    {
        ArgumentNullException.ThrowIfNull(layers);
        if (layers.Count == 0)
            throw new ArgumentException("A perceptron needs at least one layer.", nameof(layers));
        for (int i = 0; i < layers.Count; i++)
        {
            var layer = layers[i];
            if (layer.Weights.Length != (long)layer.Inputs * layer.Outputs)
                throw new ArgumentException($"Layer {i}: {layer.Weights.Length} weights for {layer.Outputs}×{layer.Inputs}.", nameof(layers));
            if (i > 0 && layer.Inputs != layers[i - 1].Outputs)
                throw new ArgumentException($"Layer {i} takes {layer.Inputs} inputs but layer {i - 1} gives {layers[i - 1].Outputs}.", nameof(layers));
        }
        Layers = layers;
    }

    /// <summary>The layers, input side first; the last one is the softmax layer.</summary>
    public IReadOnlyList<DenseLayer> Layers { get; }

    /// <summary>The hidden (ReLU) layers: all but the last.</summary>
    public IReadOnlyList<DenseLayer> Hidden => Layers.Take(Layers.Count - 1).ToList();

    /// <summary>The softmax layer.</summary>
    public DenseLayer Output => Layers[^1];

    /// <summary>Input length (3·S·S pixels).</summary>
    public int Inputs => Layers[0].Inputs;

    /// <summary>Number of classes.</summary>
    public int Classes => Output.Outputs;

    /// <summary>All weights and biases.</summary>
    public long Parameters => Layers.Sum(l => l.Parameters);

    /// <summary>Class probabilities for one row of 0–255 pixel planes.</summary>
    /// <exception cref="ArgumentException">The row has the wrong length.</exception>
    public float[] Predict(ReadOnlySpan<float> pixels)
    {
        if (pixels.Length != Inputs)
            throw new ArgumentException($"Expected {Inputs} pixel values, got {pixels.Length}.", nameof(pixels));
        float[] a = pixels.ToArray();
        for (int i = 0; i < Layers.Count; i++)
        {
            var layer = Layers[i];
            var z = new float[layer.Outputs];
            for (int o = 0; o < z.Length; o++)
                z[o] = TensorPrimitives.Dot(layer.Weights.AsSpan(o * layer.Inputs, layer.Inputs), a) + layer.Bias[o];
            if (i < Layers.Count - 1)
                TensorPrimitives.Max(z, 0f, z);
            a = z;
        }
        Numerics.Kernels.Softmax(a, a);
        return a;
    }
}

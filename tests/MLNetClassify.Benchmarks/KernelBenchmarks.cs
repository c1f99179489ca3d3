using BenchmarkDotNet.Attributes;
using MLNetClassify.Data;
using MLNetClassify.Learning;
using MLNetClassify.Numerics;
using MLNetClassify.Perceptrons;

namespace MLNetClassify.Benchmarks;

/// <summary>
/// The hot kernels, under BenchmarkDotNet: softmax and cross-entropy on a head's logits, a trained head's forward
/// pass on 512 features, and one mini-batch of the MLP's forward and backward passes.
/// Run: dotnet run -c Release --project tests/MLNetClassify.Benchmarks -- kernels [--filter *Softmax*]
/// </summary>
[MemoryDiagnoser]
public class KernelBenchmarks
{
    private readonly float[] _logits = new float[1000];
    private readonly float[] _probabilities = new float[1000];
    private SoftmaxLayer _head = null!;
    private float[] _features = [];
    private PerceptronTrainer.Network _network = null!;
    private float[] _theta = [];
    private float[] _grad = [];
    private FeatureMatrix _pixels = null!;
    private int[] _labels = [];
    private int[] _rows = [];
    private float[] _negativeMean = [];

    [GlobalSetup]
    public void Setup()
    {
        var rng = new Random(1);
        for (int i = 0; i < _logits.Length; i++) _logits[i] = (float)(rng.NextDouble() * 20 - 10);
        _features = Enumerable.Range(0, 512).Select(_ => (float)rng.NextDouble() * 4).ToArray();
        _head = new SoftmaxLayer(Enumerable.Range(0, 6 * 512).Select(_ => (float)(rng.NextDouble() - 0.5)).ToArray(), new float[6], 512);

        const int inputs = 3 * 32 * 32, batch = 32;
        _network = new PerceptronTrainer.Network(inputs, [256], 6, batch, sigmoid: false);
        _theta = _network.InitialParameters(1);
        _grad = new float[_theta.Length];
        _pixels = new FeatureMatrix(Enumerable.Range(0, batch * inputs).Select(_ => (float)rng.Next(256)).ToArray(), batch, inputs);
        _labels = Enumerable.Range(0, batch).Select(i => i % 6).ToArray();
        _rows = Enumerable.Range(0, batch).ToArray();
        _negativeMean = Enumerable.Range(0, inputs).Select(_ => -0.5f).ToArray();
    }

    [Benchmark]
    public void Softmax1000() => Kernels.Softmax(_logits, _probabilities);

    [Benchmark]
    public float CrossEntropyWithGradient1000() => Kernels.CrossEntropyWithGradient(_logits, 3, _probabilities);

    [Benchmark]
    public float[] HeadPredict512x6() => _head.Predict(_features);

    [Benchmark]
    public void MlpBatch32Forward3072x256x6()
    {
        _network.LoadInputs(_pixels, _rows, _negativeMean);
        _network.Forward(_theta, _rows.Length);
    }

    [Benchmark]
    public void MlpBatch32ForwardBackward3072x256x6()
    {
        _network.LoadInputs(_pixels, _rows, _negativeMean);
        _network.Forward(_theta, _rows.Length);
        _network.OutputGradient(_labels, _rows, 1f / _rows.Length);
        _network.Backward(_theta, _grad, _rows.Length);
    }
}

using MLNetClassify.Data;
using MLNetClassify.Perceptrons;

namespace MLNetClassify.Tests.Perceptrons;

public sealed class PerceptronTrainerTests
{
    [Theory]
    [InlineData(false, new[] { 4, 3 }, 3)]
    [InlineData(true, new[] { 5 }, 2)]
    [InlineData(false, new int[0], 4)]
    public void Backward_MatchesFiniteDifferences(bool sigmoid, int[] hidden, int classes)
    {
        const int inputs = 6, batch = 5;
        var rng = new Random(3);
        var pixels = new FeatureMatrix(Enumerable.Range(0, batch * inputs).Select(_ => (float)rng.Next(256)).ToArray(), batch, inputs);
        var labels = Enumerable.Range(0, batch).Select(i => i % classes).ToArray();
        int[] rows = [.. Enumerable.Range(0, batch)];
        var mean = Enumerable.Range(0, inputs).Select(_ => -0.5f).ToArray();
        var network = new PerceptronTrainer.Network(inputs, hidden, sigmoid ? 1 : classes, batch, sigmoid);
        var theta = network.InitialParameters(seed: 5);
        for (int i = 0; i < theta.Length; i++) theta[i] += 0.3f * (float)(rng.NextDouble() - 0.5); // move off zero so every unit matters

        double Loss(float[] t)
        {
            network.LoadInputs(pixels, rows, mean);
            network.Forward(t, batch);
            return network.OutputGradient(labels, rows, scale: 0f).Loss / batch;
        }

        network.LoadInputs(pixels, rows, mean);
        network.Forward(theta, batch);
        network.OutputGradient(labels, rows, scale: 1f / batch);
        var grad = new float[theta.Length];
        network.Backward(theta, grad, batch);

        const float h = 1e-2f;
        for (int i = 0; i < theta.Length; i++)
        {
            float saved = theta[i];
            theta[i] = saved + h;
            double up = Loss(theta);
            theta[i] = saved - h;
            double down = Loss(theta);
            theta[i] = saved;
            double numeric = (up - down) / (2 * h);
            Assert.True(Math.Abs(numeric - grad[i]) <= 2e-3 + 2e-2 * Math.Abs(numeric), $"parameter {i}: analytic {grad[i]}, numeric {numeric}");
        }
    }

    [Fact]
    public void Train_SigmoidWithThreeClasses_ThrowsForSoftmaxAdvice()
    {
        var pixels = new FeatureMatrix(new float[6 * 4], 6, 4);
        var trainer = new PerceptronTrainer(new PerceptronOptions { ImageSize = 8, SigmoidOutput = true });
        var e = Assert.Throws<ArgumentException>(() => trainer.Train(pixels, [0, 1, 2, 0, 1, 2], 3));
        Assert.Contains("SigmoidOutput = false", e.Message);
    }

    [Fact]
    public void Options_ThrowForAHiddenLayerOfSizeZero() =>
        Assert.Throws<ArgumentException>(() => new PerceptronTrainer(new PerceptronOptions { HiddenLayers = [16, 0] }));

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Train_SeparablePixels_LearnsThem_AndFoldsScalingIntoTheFirstLayer(bool sigmoid)
    {
        // Class 1 is brighter in the first half of the pixels, darker in the second; noise everywhere.
        const int n = 200, d = 24;
        var rng = new Random(9);
        var values = new float[n * d];
        var labels = new int[n];
        for (int r = 0; r < n; r++)
        {
            labels[r] = r % 2;
            for (int j = 0; j < d; j++)
                values[r * d + j] = Math.Clamp(128 + (labels[r] == 1 == (j < d / 2) ? 25 : -25) + rng.Next(-60, 61), 0, 255);
        }
        var pixels = new FeatureMatrix(values, n, d);
        var result = new PerceptronTrainer(new PerceptronOptions { ImageSize = 8, SigmoidOutput = sigmoid, Epochs = 40, LearningRate = 1e-2f }).Train(pixels, labels, 2);

        int correct = Enumerable.Range(0, n).Count(r => (result.Model.Predict(pixels.Row(r))[1] > 0.5f ? 1 : 0) == labels[r]);
        Assert.True(correct >= 0.95 * n, $"{correct}/{n} right");
        Assert.Equal(2, result.Model.Classes);
        if (sigmoid)
        {
            // One trained unit, saved as the two-class softmax rows [0; w], [0; b].
            Assert.All(result.Model.Output.Weights.Take(d), w => Assert.Equal(0f, w));
            Assert.Equal(0f, result.Model.Output.Bias[0]);
            Assert.Equal(d + 1, result.TrainedParameters);
        }
    }
}

using Microsoft.ML.Data;
using MLNetClassify.Images;
using MLNetClassify.Models;

namespace MLNetClassify.Serving;

/// <summary>How the pool scores one image: the classifier model's scorer, or an ML.NET engine over another chain.</summary>
internal interface IImageScorer : IDisposable
{
    /// <summary>The side the model resizes images to (the DCT decode target).</summary>
    int Side { get; }

    /// <summary>Class probabilities of the image file at <paramref name="path"/>, or why it cannot be scored.</summary>
    (float[]? Score, string? Problem) Score(string path);

    /// <summary>Class probabilities of an encoded image read from <paramref name="stream"/>, or why it cannot be scored.</summary>
    (float[]? Score, string? Problem) Score(Stream stream);

    /// <summary>Class probabilities of an image already decoded (not disposed here).</summary>
    float[] Score(MLImage image);
}

/// <summary>
/// A classifier model's one scoring path (<see cref="ClassifierScorer"/>) shared by every request: one ONNX Runtime
/// session running the trunk, called from many threads at once, each image decoded on its request's thread (upright,
/// DCT-scaled, size-limited, truncation refused) and scored alone, then the tail's softmax. Paths are used as given.
/// </summary>
internal sealed class SharedClassifierScorer(ClassifierScorer scorer, ImageDecoding decoding) : IImageScorer
{
    public int Side => scorer.Model.Trunk.InputSize;

    public (float[]? Score, string? Problem) Score(string path)
    {
        var probabilities = scorer.ScoreOne(ImageSource.FromFile(path), out var problem);
        return (probabilities, problem);
    }

    public (float[]? Score, string? Problem) Score(Stream stream)
    {
        var decoded = ImageDecoder.Decode(stream, Side, decoding);
        if (decoded.Problem is { } problem)
            return (null, problem);
        using var image = decoded.Image!;
        return (Score(image), null);
    }

    public float[] Score(MLImage image) =>
        scorer.ScoreOne(ImageSource.FromImage(image, "image"), out var problem) ?? throw new InvalidDataException($"The decoded image cannot be scored: {problem}");

    public void Dispose() => scorer.Dispose();
}

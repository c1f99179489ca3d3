using Microsoft.ML;
using MLNetClassify.Data;
using MLNetClassify.Featurization;
using MLNetClassify.Images;

namespace MLNetClassify.Models;

/// <summary>Class probabilities of the images that could be read, and what reading them took.</summary>
/// <param name="Probabilities">One row per readable image, class order; the mean over the views when there were several.</param>
/// <param name="SourceIndices">For each row, its image's index in the list scored.</param>
/// <param name="Featurized">Reading the images (view 0): skipped images, cache hits, time.</param>
internal sealed record ScoredImages(double[][] Probabilities, int[] SourceIndices, FeaturizationResult Featurized);

/// <summary>
/// The one scoring path of a <see cref="ClassifierModel"/>: images decoded and featurized in batches by its trunk
/// (<see cref="ImageFeaturizer"/>, through the feature cache when the options name one), then its tail's softmax on
/// each row. Training's test metrics, <c>evaluate</c> (test-time views included) and reports score through it;
/// the saved ML.NET chain gives the same probabilities (ClassifierScorerTests, 1e-5).
/// </summary>
internal sealed class ClassifierScorer : IDisposable
{
    private readonly ImageFeaturizer _featurizer;
    private readonly bool _ownsFeaturizer;

    /// <summary>Opens the model's trunk in its own ONNX Runtime session (<paramref name="modelPath"/> names it in messages and cache keys).</summary>
    public ClassifierScorer(MLContext mlContext, ClassifierModel model, string modelPath, FeaturizerOptions? options = null)
        : this(model, new ImageFeaturizer(mlContext, model.Trunk.Spec(modelPath), model.Trunk.Graph, options), ownsFeaturizer: true)
    {
    }

    /// <summary>Scores with a featurizer already running the model's trunk (training's, which keeps it).</summary>
    public ClassifierScorer(ClassifierModel model, ImageFeaturizer featurizer) : this(model, featurizer, ownsFeaturizer: false)
    {
    }

    private ClassifierScorer(ClassifierModel model, ImageFeaturizer featurizer, bool ownsFeaturizer)
    {
        Model = model ?? throw new ArgumentNullException(nameof(model));
        _featurizer = featurizer ?? throw new ArgumentNullException(nameof(featurizer));
        _ownsFeaturizer = ownsFeaturizer;
        if (featurizer.Dimensions != model.Tail.Features)
        {
            Dispose();
            throw new InvalidDataException($"The trunk gives {featurizer.Dimensions} features, the tail takes {model.Tail.Features}.");
        }
    }

    public ClassifierModel Model { get; }

    /// <summary>The featurizer running the trunk (its device, its cache).</summary>
    public ImageFeaturizer Featurizer => _featurizer;

    /// <summary>
    /// Probabilities of <paramref name="images"/>; with <paramref name="views"/> &gt; 1, the mean over that many views of
    /// each (1: the image alone; 2: and its mirror image; k &gt; 2: and k − 2 random resized crops drawn from
    /// <paramref name="seed"/>), each view one more trunk pass.
    /// </summary>
    /// <exception cref="InvalidDataException">An image read for the first view could not be read for a later one.</exception>
    public ScoredImages Score(IReadOnlyList<ImageSource> images, int views = 1, int seed = 1, IProgress<FeaturizationProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(images);
        ArgumentOutOfRangeException.ThrowIfLessThan(views, 1);
        var featurized = _featurizer.Featurize(images, progress, cancellationToken);
        var probabilities = Probabilities(featurized.Features);
        if (views > 1)
        {
            var readable = featurized.SourceIndices.Select(i => images[i]).ToList();
            for (int v = 1; v < views; v++)
            {
                var view = _featurizer.FeaturizeView(readable, v, seed, null, cancellationToken);
                if (view.Features.Rows != readable.Count)
                    throw new InvalidDataException($"{view.Skipped.FirstOrDefault()?.Source}: read for view 0, unreadable for view {v} ({view.Skipped.FirstOrDefault()?.Reason}); was it changed meanwhile?");
                var more = Probabilities(view.Features);
                for (int i = 0; i < probabilities.Length; i++)
                    for (int k = 0; k < more[i].Length; k++)
                        probabilities[i][k] += more[i][k];
            }
            foreach (var row in probabilities)
                for (int k = 0; k < row.Length; k++)
                    row[k] /= views;
        }
        return new ScoredImages(probabilities, featurized.SourceIndices, featurized);
    }

    /// <summary>
    /// Class probabilities (class order) of one image, or null with why in <paramref name="problem"/>: read on the calling
    /// thread, a trunk pass of its own, then the tail. Safe to call from many threads at once (a service's requests).
    /// </summary>
    public float[]? ScoreOne(ImageSource image, out string? problem) =>
        _featurizer.FeaturizeOne(image, out problem) is { } features ? Model.Probabilities(features) : null;

    /// <summary>The tail's probabilities of each row of <paramref name="features"/> (float, widened to double).</summary>
    private double[][] Probabilities(FeatureMatrix features)
    {
        var rows = new double[features.Rows][];
        for (int i = 0; i < rows.Length; i++)
            rows[i] = Array.ConvertAll(Model.Probabilities(features.Row(i)), p => (double)p);
        return rows;
    }

    /// <summary>
    /// Scores labelled <paramref name="images"/> and computes their metrics; images whose label the model does not know
    /// are left out and listed, unreadable ones reported as skipped.
    /// </summary>
    /// <exception cref="ArgumentException">None of the images can be evaluated; the message says why.</exception>
    public (ClassificationMetrics? Metrics, ScoredImages? Scored, IReadOnlyList<LabeledImage> Usable, IReadOnlyList<LabeledImage> Unknown) Evaluate(
        IReadOnlyList<LabeledImage> images, int views, int seed, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(images);
        var unknown = images.Where(i => Model.ClassIndex(i.Label) < 0).ToList();
        var usable = images.Where(i => Model.ClassIndex(i.Label) >= 0).ToList();
        var scored = Score(usable.Select(i => ImageSource.FromFile(i.ImagePath)).ToList(), views, seed, null, cancellationToken);
        if (scored.Probabilities.Length == 0)
            return (null, scored, usable, unknown);
        var labels = scored.SourceIndices.Select(i => Model.ClassIndex(usable[i].Label)).ToArray();
        return (ClassificationMetrics.Of(scored.Probabilities, labels, Model.Classes), scored, usable, unknown);
    }

    public void Dispose()
    {
        if (_ownsFeaturizer) _featurizer.Dispose();
    }
}

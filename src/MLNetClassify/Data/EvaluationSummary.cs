namespace MLNetClassify.Data;

/// <summary>Multiclass metrics on a set of labelled images.</summary>
/// <param name="Accuracy">Micro accuracy.</param>
/// <param name="MacroAccuracy">Mean per-class accuracy.</param>
/// <param name="LogLoss">Mean cross-entropy.</param>
/// <param name="Images">Images evaluated.</param>
/// <param name="Skipped">Images that could not be read, with reasons.</param>
/// <param name="UnknownLabels">Images whose label the model does not know (left out of the metrics).</param>
/// <param name="ImagesPerSecond">Throughput of the scoring.</param>
/// <param name="ConfusionTable">ML.NET's formatted confusion table.</param>
public sealed record EvaluationSummary(
    double Accuracy, double MacroAccuracy, double LogLoss, int Images,
    IReadOnlyList<SkippedImage> Skipped, IReadOnlyList<LabeledImage> UnknownLabels, double ImagesPerSecond, string ConfusionTable)
{
    /// <summary>True when the images went through the batched featurizer (and its cache), false when row by row.</summary>
    public bool Batched { get; init; }

    /// <summary>Images whose features came from the cache.</summary>
    public int CacheHits { get; init; }

    /// <summary>Cache entries found damaged (or holding another image's features) and rebuilt, each naming its file.</summary>
    public IReadOnlyList<string> CacheWarnings { get; init; } = [];
}

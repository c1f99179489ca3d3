namespace MLNetClassify.Data;

/// <summary>Features for the images that could be read.</summary>
/// <param name="Features">One row per featurized image.</param>
/// <param name="SourceIndices">For each row, the image's position in the input list.</param>
/// <param name="Skipped">Images that could not be read, with reasons.</param>
/// <param name="Elapsed">Wall time of the run.</param>
public sealed record FeaturizationResult(FeatureMatrix Features, int[] SourceIndices, IReadOnlyList<SkippedImage> Skipped, TimeSpan Elapsed)
{
    /// <summary>Images whose features came from the cache.</summary>
    public int CacheHits { get; init; }

    /// <summary>Damaged cache entries met (and rebuilt), or entries that could not be written.</summary>
    public IReadOnlyList<string> CacheWarnings { get; init; } = [];

    /// <summary>Each input image's content hash (hex SHA-256) where the cache computed it, by input position; null without a cache.</summary>
    internal IReadOnlyList<string?>? ContentHashes { get; init; }

    /// <summary>Where the time of the images featurized (not read from the cache) went.</summary>
    internal FeaturizationStages? Stages { get; init; }

    /// <summary>Images (featurized or skipped) per second of wall time.</summary>
    public double ImagesPerSecond => (Features.Rows + Skipped.Count) / Math.Max(Elapsed.TotalSeconds, 1e-9);
}

using System.Diagnostics;
using MLNetClassify.Data;
using MLNetClassify.Images;

namespace MLNetClassify.Featurization;

public sealed partial class ImageFeaturizer
{
    /// <summary>
    /// Reads what the cache has (hashing the files on all cores), featurizes the rest in batches, adds them to the
    /// cache, and returns rows in input order as if everything had been featurized. In-memory images bypass the cache.
    /// </summary>
    private FeaturizationResult FeaturizeThroughCache(FeatureCache cache, IReadOnlyList<ImageSource> images,
        IProgress<FeaturizationProgress>? progress, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        int d = cache.Dimensions;
        var values = new float[(long)images.Count * d];
        var keys = new string?[images.Count];
        var hit = new bool[images.Count];
        var warnings = new List<string>();
        Parallel.For(0, images.Count, new ParallelOptions { CancellationToken = cancellationToken }, i =>
        {
            if (images[i].Path is not { } path || !File.Exists(path))
                return;
            try
            {
                keys[i] = FeatureCache.ContentKey(path);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                return; // the featurizer reports the unreadable file
            }
            hit[i] = cache.TryRead(keys[i]!, values.AsSpan(i * d, d), out var problem);
            if (problem is not null)
                lock (warnings) warnings.Add(problem);
        });

        var misses = Enumerable.Range(0, images.Count).Where(i => !hit[i]).ToArray();
        var fresh = misses.Length == 0
            ? new FeaturizationResult(new FeatureMatrix([], 0, d), [], [], TimeSpan.Zero) // all cached: no decoders, no ORT call
            : FeaturizeAll(misses.Select(i => images[i]).ToList(), progress, cancellationToken, misses.Select(i => keys[i]).ToList());
        var ok = (bool[])hit.Clone();
        for (int row = 0; row < fresh.Features.Rows; row++)
        {
            int i = misses[fresh.SourceIndices[row]];
            fresh.Features.Row(row).CopyTo(values.AsSpan(i * d, d));
            ok[i] = true;
            if (keys[i] is not { } key) continue;
            try
            {
                cache.Write(key, fresh.Features.Row(row));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                warnings.Add($"could not add {images[i].Name} to the cache: {e.Message}");
            }
        }

        var indices = Enumerable.Range(0, images.Count).Where(i => ok[i]).ToArray();
        var skipped = fresh.Skipped.Select(s => s with { Index = misses[s.Index] }).ToList();
        var matrix = new FeatureMatrix(values, images.Count, d).Select(indices);
        return new FeaturizationResult(matrix, indices, skipped, clock.Elapsed)
        {
            CacheHits = hit.Count(h => h),
            Stages = fresh.Stages,
            CacheWarnings = warnings,
            ContentHashes = keys,
        };
    }
}

using System.Diagnostics;
using System.Numerics.Tensors;
using Microsoft.ML;
using MLNetClassify.Backbones;
using MLNetClassify.Data;
using MLNetClassify.Featurization;
using MLNetClassify.Images;

namespace MLNetClassify.Tuning;

/// <summary>
/// The inputs of a tuned stage for a list of images and their augmented views, held as float16 (ResNet18's stage 3 at
/// 224: 256×14×14 values, 98 KiB an image and view): one block per view, images in the same order in each, the way
/// the head trainer takes views. Row r is view r / <see cref="Images"/> of image r % <see cref="Images"/>.
/// </summary>
internal sealed class StageMaps
{
    private readonly Half[][] _views;

    /// <summary>Wraps float16 blocks of <paramref name="images"/> maps of <paramref name="shape"/> each, one per view.</summary>
    /// <exception cref="ArgumentException">A block has the wrong length.</exception>
    public StageMaps(Half[][] views, int images, int[] shape)
    {
        ArgumentNullException.ThrowIfNull(views);
        Shape = shape;
        Values = shape.Aggregate(1, (p, d) => p * d);
        if (views.Length == 0 || images <= 0 || views.Any(v => v.LongLength != (long)images * Values))
            throw new ArgumentException($"Each of the {views.Length} views must hold {images} images × {Values} values.", nameof(views));
        _views = views;
        Images = images;
    }

    /// <summary>Images (rows of one view).</summary>
    public int Images { get; }

    /// <summary>Blocks: 1 (the images as they are) plus the augmented views.</summary>
    public int Views => _views.Length;

    /// <summary>Rows in all: images × views.</summary>
    public int Rows => Images * Views;

    /// <summary>[C, H, W] of one map.</summary>
    public int[] Shape { get; }

    /// <summary>Values per map.</summary>
    public int Values { get; }

    /// <summary>Bytes the maps take in memory (2 per value).</summary>
    public long Bytes => 2L * Rows * Values;

    /// <summary>Indices into the list featurized: which images were readable, in order (row i of a view is image <c>SourceIndices[i]</c>).</summary>
    public IReadOnlyList<int> SourceIndices { get; init; } = [];

    /// <summary>Images that could not be read, with why.</summary>
    public IReadOnlyList<SkippedImage> Skipped { get; init; } = [];

    /// <summary>Images whose maps came from the cache (all views counted).</summary>
    public int CacheHits { get; init; }

    /// <summary>Writes row <paramref name="row"/> as float32 into <paramref name="destination"/>.</summary>
    public void Read(int row, Span<float> destination) =>
        TensorPrimitives.ConvertToSingle(_views[row / Images].AsSpan(row % Images * Values, Values), destination[..Values]);

    /// <summary>
    /// Runs <paramref name="featurizerGraph"/> (a pooled featurizer graph of <paramref name="backbone"/>) up to tensor
    /// <paramref name="map"/> on each image and <paramref name="augmentedViews"/> augmented views of it (the featurizer's
    /// own views: flip, then random resized crops drawn from <paramref name="seed"/> and the image's content), through
    /// the featurizer's content-keyed cache when <see cref="FeaturizerOptions.CacheDirectory"/> is set (entries stored
    /// as float16, under a folder keyed by the cut graph). Images are run in chunks, so the float32 maps in flight stay small.
    /// </summary>
    /// <exception cref="ArgumentException">No image could be read.</exception>
    /// <exception cref="InvalidDataException">An image readable in its plain view failed in an augmented one.</exception>
    /// <exception cref="OperationCanceledException">Cancelled.</exception>
    public static StageMaps Featurize(MLContext mlContext, BackboneSpec backbone, byte[] featurizerGraph, string map, int[] shape,
        IReadOnlyList<ImageSource> images, int augmentedViews, int seed, FeaturizerOptions? options = null,
        IProgress<FeaturizationProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(images);
        ArgumentOutOfRangeException.ThrowIfNegative(augmentedViews);
        var graph = StageGraphs.CutAt(featurizerGraph, map, shape);
        using var featurizer = new ImageFeaturizer(mlContext, backbone, graph, options, halfCache: true);
        int values = shape.Aggregate(1, (p, d) => p * d), views = 1 + augmentedViews;
        var clock = Stopwatch.StartNew();
        int hits = 0, done = 0, total = images.Count * views;
        List<int> readable = [];
        var skipped = new List<SkippedImage>();
        var blocks = new Half[views][];
        for (int v = 0; v < views; v++)
        {
            var list = v == 0 ? images : readable.Select(i => images[i]).ToList();
            if (v == 0)
                blocks[0] = new Half[(long)images.Count * values];
            else
                blocks[v] = new Half[(long)readable.Count * values];
            int rows = 0;
            for (int start = 0; start < list.Count; start += Chunk)
            {
                var chunk = list.Skip(start).Take(Chunk).ToList();
                int before = done;
                var inner = progress is null ? null : new Progress<FeaturizationProgress>(p => progress.Report(new(before + p.Done, total, (before + p.Done) / Math.Max(clock.Elapsed.TotalSeconds, 1e-3))));
                var result = featurizer.FeaturizeView(chunk, v, seed, inner, cancellationToken);
                hits += result.CacheHits;
                if (v > 0 && result.Skipped.Count > 0)
                    throw new InvalidDataException($"{result.Skipped[0].Source}: readable as it is but not in augmented view {v}: {result.Skipped[0].Reason}");
                for (int r = 0; r < result.Features.Rows; r++)
                {
                    TensorPrimitives.ConvertToHalf(result.Features.Row(r), blocks[v].AsSpan(rows * values, values));
                    rows++;
                    if (v == 0) readable.Add(start + result.SourceIndices[r]);
                }
                if (v == 0) skipped.AddRange(result.Skipped.Select(s => s with { Index = start + s.Index }));
                // Each chunk leaves tens of MB of float32 arrays on the large-object heap: collected now, they do not pile up into the peak.
                GC.Collect(2, GCCollectionMode.Forced, blocking: true);
                done += chunk.Count;
                progress?.Report(new(done, total, done / Math.Max(clock.Elapsed.TotalSeconds, 1e-3)));
            }
            if (v == 0)
            {
                if (readable.Count == 0)
                    throw new ArgumentException($"None of the {images.Count} images could be read; first problem: {skipped.FirstOrDefault()?.Source}: {skipped.FirstOrDefault()?.Reason}");
                if (readable.Count < images.Count)
                    blocks[0] = blocks[0].AsSpan(0, readable.Count * values).ToArray();
                total = images.Count + augmentedViews * readable.Count;
            }
        }
        return new StageMaps(blocks, readable.Count, shape) { SourceIndices = readable, Skipped = skipped, CacheHits = hits };
    }

    /// <summary>
    /// One view (<paramref name="view"/>, as in <see cref="Featurize"/>) of each of <paramref name="images"/>, as maps of
    /// one block: every image must be readable (they are those a plain featurization kept).
    /// </summary>
    /// <exception cref="InvalidDataException">An image could not be read in this view.</exception>
    public static StageMaps FeaturizeView(MLContext mlContext, BackboneSpec backbone, byte[] featurizerGraph, string map, int[] shape,
        IReadOnlyList<ImageSource> images, int view, int seed, FeaturizerOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(images);
        using var featurizer = new ImageFeaturizer(mlContext, backbone, StageGraphs.CutAt(featurizerGraph, map, shape), options, halfCache: true);
        int values = shape.Aggregate(1, (p, d) => p * d), hits = 0;
        var block = new Half[(long)images.Count * values];
        for (int start = 0; start < images.Count; start += Chunk)
        {
            var chunk = images.Skip(start).Take(Chunk).ToList();
            var result = featurizer.FeaturizeView(chunk, view, seed, null, cancellationToken);
            if (result.Skipped.Count > 0)
                throw new InvalidDataException($"{result.Skipped[0].Source}: not readable in view {view}: {result.Skipped[0].Reason}");
            hits += result.CacheHits;
            for (int r = 0; r < result.Features.Rows; r++)
                TensorPrimitives.ConvertToHalf(result.Features.Row(r), block.AsSpan((start + r) * values, values));
            GC.Collect(2, GCCollectionMode.Forced, blocking: true);
        }
        return new StageMaps([block], images.Count, shape) { SourceIndices = Enumerable.Range(0, images.Count).ToArray(), CacheHits = hits };
    }

    /// <summary>Images per featurizer call: 128 float32 maps of ResNet18's stage 3 are 25 MB.</summary>
    private const int Chunk = 128;
}

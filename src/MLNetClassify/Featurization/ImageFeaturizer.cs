using System.Diagnostics;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.OnnxRuntime;
using MLNetClassify.Backbones;
using MLNetClassify.Data;
using MLNetClassify.Images;

namespace MLNetClassify.Featurization;

/// <summary>Progress of a featurization run.</summary>
/// <param name="Done">Images processed so far (skips included).</param>
/// <param name="Total">Images to process.</param>
/// <param name="ImagesPerSecond">Throughput so far.</param>
public sealed record FeaturizationProgress(int Done, int Total, double ImagesPerSecond);

/// <summary>
/// Batched featurization: images are decoded and resized on all cores (ML.NET's stock resize and pixel steps, done
/// in place by <see cref="StockPlanes"/>) into batch buffers that one ONNX Runtime session runs through the backbone's
/// featurizer graph, a batch per call, as <see cref="FeaturizerPlan"/> says (workers, or a decode-then-infer pipeline).
/// Unreadable images are reported, not fatal.
/// </summary>
/// <remarks>Owns a native ONNX Runtime session: dispose it.</remarks>
public sealed partial class ImageFeaturizer : IDisposable
{
    private readonly MLContext _mlContext;
    private readonly BackboneSpec _backbone;
    private readonly FeaturizerOptions _options;
    private readonly InferenceSession _session;
    private readonly RunOptions _runOptions = new();
    private readonly int _pixelsPerImage;
    private readonly FeatureCache? _cache;
    private readonly FeaturizerPlan _plan;
    private bool _disposed;

    /// <summary>Workers of the CPU default (one per core while the in-flight budget allows), or 0 when the pipeline runs.</summary>
    internal int Workers => _plan.Strategy == FeaturizerStrategy.Workers ? _plan.Workers : 0;

    /// <summary>How this featurizer runs: strategy, threads, images per call.</summary>
    internal FeaturizerPlan Plan => _plan;

    /// <summary>Loads <paramref name="backbone"/> into an ONNX Runtime session on the options' device.</summary>
    /// <exception cref="FileNotFoundException">The backbone's file is missing.</exception>
    /// <exception cref="InvalidOperationException">The device was required and cannot be used.</exception>
    public ImageFeaturizer(MLContext mlContext, BackboneSpec backbone, FeaturizerOptions? options = null)
        : this(mlContext, backbone ?? throw new ArgumentNullException(nameof(backbone)), FeaturizerGraph.Build(backbone), options,
            (folder, d, tf32) => new FeatureCache(folder, backbone, d, tf32)) // the spec's cache key is memoized: no re-hashing of the graph
    {
    }

    /// <summary>
    /// Runs an already built featurizer graph (one read back from a saved model, <c>ModelFiles.ReadFeaturizerGraph</c>);
    /// <paramref name="backbone"/> supplies its name, input size and feature count.
    /// </summary>
    /// <remarks>With <c>halfCache</c>, features are cached as float16 (large unpooled maps; see <see cref="FeatureCache.StoresHalf"/>).</remarks>
    internal ImageFeaturizer(MLContext mlContext, BackboneSpec backbone, byte[] graph, FeaturizerOptions? options, bool halfCache = false)
        : this(mlContext, backbone, graph, options, (folder, d, tf32) => new FeatureCache(folder, backbone.Name, graph, d, tf32, halfCache))
    {
    }

    private ImageFeaturizer(MLContext mlContext, BackboneSpec backbone, byte[] graph, FeaturizerOptions? options, Func<string, int, bool, FeatureCache> openCache)
    {
        _mlContext = mlContext ?? throw new ArgumentNullException(nameof(mlContext));
        _backbone = backbone;
        Graph = graph;
        _options = options ?? new FeaturizerOptions();
        if (_options.BatchSize < 0)
            throw new ArgumentOutOfRangeException(nameof(options), _options.BatchSize, "BatchSize must be positive (or 0 for the device's default).");
        _pixelsPerImage = 3 * backbone.ResizeSize * backbone.ResizeSize;
        // The session is made for the strategy the options select (FeaturizerPlan); a CUDA request that falls back to
        // the CPU keeps the pipeline.
        int threads = FeaturizerPlan.SessionThreadsFor(_options, Environment.ProcessorCount);
        _session = OrtSessions.Create(graph, threads, _options.Device, _options.RequireDevice, _options.AllowTf32, out var actual, out var reason);
        try
        {
            Device = actual;
            FallbackReason = reason;
            UsesTf32 = actual.IsCuda && _options.AllowTf32;
            _plan = FeaturizerPlan.For(_options, Environment.ProcessorCount, backbone.ResizeSize,
                _options.BatchSize > 0 ? _options.BatchSize : actual.DefaultBatchSize);
            // The graph declares its N×D output: D is the backbone's channels, or more for rich pooling.
            var declared = _session.OutputMetadata[FeaturizerGraph.OutputName].Dimensions;
            Dimensions = declared.Length == 2 && declared[1] > 0 ? declared[1] : backbone.Channels;
            _openCache = openCache;
            _cache = _options.CacheDirectory is { } folder ? openCache(folder, Dimensions, UsesTf32) : null;
        }
        catch
        {
            _session.Dispose(); // the caller gets no featurizer to dispose: release the native session here
            throw;
        }
    }

    private readonly Func<string, int, bool, FeatureCache> _openCache;

    /// <summary>The featurizer graph this runs (preprocessing, backbone, pooling): a classifier model's trunk.</summary>
    internal byte[] Graph { get; }

    /// <summary>Values per image.</summary>
    public int Dimensions { get; }

    /// <summary>The folder of the cache this featurizer reads and fills; null when caching is off.</summary>
    internal string? CacheFolder => _cache?.Folder;

    /// <summary>The device the backbone actually runs on.</summary>
    public ExecutionDevice Device { get; }

    /// <summary>Why the requested device was not used; null when it was.</summary>
    public string? FallbackReason { get; }

    /// <summary>True when the backbone runs on CUDA with TF32 allowed: its features are not the CPU's to within float32 rounding.</summary>
    internal bool UsesTf32 { get; }

    /// <summary>The backbone this featurizer runs.</summary>
    public BackboneSpec Backbone => _backbone;

    /// <summary>Features of the image files at <paramref name="imagePaths"/>, in batches; unreadable files are reported in the result's skips.</summary>
    /// <param name="imagePaths">Image files (paths are used as given).</param>
    /// <param name="progress">Receives progress about twice a second; may be null.</param>
    /// <param name="cancellationToken">Stops the run; the call then throws <see cref="OperationCanceledException"/>.</param>
    /// <exception cref="OperationCanceledException">Cancelled.</exception>
    public FeaturizationResult Featurize(IReadOnlyList<string> imagePaths, IProgress<FeaturizationProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(imagePaths);
        return Featurize(imagePaths.Select(ImageSource.FromFile).ToList(), progress, cancellationToken);
    }

    /// <summary>Features of in-memory images, in batches; the skips name an image by its position ("image 3").</summary>
    /// <param name="images">Decoded images.</param>
    /// <param name="progress">Receives progress about twice a second; may be null.</param>
    /// <param name="cancellationToken">Stops the run; the call then throws <see cref="OperationCanceledException"/>.</param>
    /// <exception cref="OperationCanceledException">Cancelled.</exception>
    public FeaturizationResult Featurize(IReadOnlyList<MLImage> images, IProgress<FeaturizationProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(images);
        return Featurize(images.Select((image, i) => ImageSource.FromImage(image, $"image {i}")).ToList(), progress, cancellationToken);
    }

    /// <summary>Featurizes <paramref name="images"/> in order; unreadable ones land in <see cref="FeaturizationResult.Skipped"/>.</summary>
    /// <exception cref="OperationCanceledException">Cancelled; no partial result is returned.</exception>
    internal FeaturizationResult Featurize(IReadOnlyList<ImageSource> images, IProgress<FeaturizationProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentNullException.ThrowIfNull(images);
        return _cache is null ? FeaturizeAll(images, progress, cancellationToken) : FeaturizeThroughCache(_cache, images, progress, cancellationToken);
    }

    /// <summary>
    /// Features of augmented view <paramref name="view"/> of each image (0: as it is; 1: mirrored; 2 and up: a random
    /// resized crop with flip and colour jitter drawn from <paramref name="seed"/>, the view and the image's content, so
    /// the same file gets the same crop in any list). Cached like plain features, under a folder of their own.
    /// </summary>
    internal FeaturizationResult FeaturizeView(IReadOnlyList<ImageSource> images, int view, int seed,
        IProgress<FeaturizationProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentNullException.ThrowIfNull(images);
        ArgumentOutOfRangeException.ThrowIfNegative(view);
        if (view == 0)
            return Featurize(images, progress, cancellationToken);
        _view = (view, seed);
        try
        {
            var cache = _options.CacheDirectory is { } folder ? _openCache(Path.Combine(folder, ViewFolder(view, seed)), Dimensions, UsesTf32) : null;
            return cache is null ? FeaturizeAll(images, progress, cancellationToken) : FeaturizeThroughCache(cache, images, progress, cancellationToken);
        }
        finally
        {
            _view = (0, 0);
        }
    }

    /// <summary>The cache sub-folder of a view: its kind and, for random crops, the seed and the crop parameters' limits.</summary>
    internal static string ViewFolder(int view, int seed) => view == 1
        ? "view-flip"
        : FormattableString.Invariant($"view-{view}-seed{seed}-area{PlaneView.MinArea:0.00}-jitter{PlaneView.Jitter:0.00}");

    private (int Index, int Seed) _view;

    /// <summary>
    /// The view to apply to image <paramref name="index"/> of the current call; identity when none. A crop is drawn from
    /// the file's content hash (<paramref name="contentKey"/> when the cache already computed it, else hashed here).
    /// </summary>
    private PlaneView ViewOf(ImageSource image, int index, string? contentKey)
    {
        var (view, seed) = _view;
        if (view == 0) return PlaneView.Identity;
        if (view == 1) return PlaneView.Flipped;
        contentKey ??= image.Path is { } path && File.Exists(path) ? ContentHash.Of(path) : null;
        ulong key = contentKey is null ? (ulong)index : Convert.ToUInt64(contentKey[..16], 16);
        return PlaneView.Random(seed, key, view);
    }

    /// <param name="images">The images, in order.</param>
    /// <param name="progress">Receives progress; may be null.</param>
    /// <param name="cancellationToken">Stops the run.</param>
    /// <param name="contentKeys">The images' content hashes where the caller has them (the cache path), so no file is hashed twice.</param>
    private FeaturizationResult FeaturizeAll(IReadOnlyList<ImageSource> images, IProgress<FeaturizationProgress>? progress, CancellationToken cancellationToken,
        IReadOnlyList<string?>? contentKeys = null)
    {
        var clock = Stopwatch.StartNew();
        int d = Dimensions;
        var features = new float[images.Count * d];
        var ok = new bool[images.Count];
        var skipped = new List<SkippedImage>();
        var stages = new StageTimer();
        using var readers = new PixelReaders(_mlContext, _backbone.ResizeSize, new ImageDecoding(_options.MaxImagePixels, _options.AcceptIncompleteImages));
        if (_plan.Strategy == FeaturizerStrategy.Workers)
            RunWorkers(images, contentKeys, readers, features, ok, skipped, progress, clock, stages, cancellationToken);
        else
            RunPipeline(images, contentKeys, readers, features, ok, skipped, progress, clock, stages, cancellationToken);

        var indices = Enumerable.Range(0, images.Count).Where(i => ok[i]).ToArray();
        var matrix = new FeatureMatrix(features, images.Count, d).Select(indices);
        skipped.Sort((a, b) => a.Index.CompareTo(b.Index));
        return new FeaturizationResult(matrix, indices, skipped, clock.Elapsed) { Stages = stages.Result() };
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _session.Dispose();
        _runOptions.Dispose();
        _oneReaders?.Dispose();
    }
}

using System.Diagnostics;
using System.Threading.Channels;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.OnnxRuntime;
using MLNetClassify.Backbones;
using MLNetClassify.Data;
using MLNetClassify.Images;

namespace MLNetClassify.Featurization;

/// <summary>Options for <see cref="ImageFeaturizer"/>.</summary>
public sealed record FeaturizerOptions
{
    /// <summary>
    /// Images per ONNX Runtime call; 0 means the device's default (<see cref="ExecutionDevice.DefaultBatchSize"/>:
    /// 8 on CPU, where ResNet18 gains little from batching; 64 on CUDA, docs/gpu.md).
    /// </summary>
    public int BatchSize { get; init; }

    /// <summary>Where the backbone runs.</summary>
    public ExecutionDevice Device { get; init; } = ExecutionDevice.Cpu;

    /// <summary>Fail when <see cref="Device"/> cannot be used, instead of falling back to the CPU.</summary>
    public bool RequireDevice { get; init; }

    /// <summary>
    /// On CUDA, let convolutions round float32 operands to TF32 on the tensor cores (Ampere and later GPUs): faster,
    /// but the features then differ from the CPU's by more (docs/gpu.md has both figures). Off by default, so that CPU
    /// and CUDA features agree; the feature cache keeps TF32 features apart. The CPU ignores it.
    /// </summary>
    public bool AllowTf32 { get; init; }

    /// <summary>
    /// Threads that decode and resize images; 0 means one per core. With both this and <see cref="InferenceThreads"/> at 0
    /// on the CPU (the default), one worker per core decodes a batch and runs it on one ONNX Runtime thread, batches in
    /// parallel: no core waits at a parallel operator's barrier while another decodes.
    /// </summary>
    public int DecodeThreads { get; init; }

    /// <summary>ONNX Runtime intra-op threads; 0 means one per core (see <see cref="DecodeThreads"/> for the CPU default).</summary>
    public int InferenceThreads { get; init; }

    /// <summary>
    /// Folder of a <see cref="FeatureCache"/>: image files already featurized with the same graph are read from it,
    /// the others are featurized and added. Null (the default) turns caching off.
    /// </summary>
    public string? CacheDirectory { get; init; }

    /// <summary>
    /// Images with more pixels than this are refused from their header, before a pixel is decoded, and reported as
    /// skipped (100 megapixels by default: above any phone camera, far below a decompression bomb).
    /// </summary>
    public long MaxImagePixels { get; init; } = ImageDecoding.DefaultMaxPixels;

    /// <summary>Use what decodes of a truncated image file instead of reporting it as skipped (off by default).</summary>
    public bool AcceptIncompleteImages { get; init; }
}

/// <summary>Progress of a featurization run.</summary>
/// <param name="Done">Images processed so far (skips included).</param>
/// <param name="Total">Images to process.</param>
/// <param name="ImagesPerSecond">Throughput so far.</param>
public sealed record FeaturizationProgress(int Done, int Total, double ImagesPerSecond);

/// <summary>
/// Batched featurization: images are decoded and resized on all cores (stock ML.NET image transforms, one
/// PredictionEngine per thread) into pooled batch buffers, which a bounded channel hands to one ONNX Runtime
/// session running the backbone's featurizer graph a batch per call. Unreadable images are reported, not fatal.
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
    private readonly int _batchSize;
    private readonly FeatureCache? _cache;
    private readonly int _workers;
    private bool _disposed;

    /// <summary>Workers of the CPU default (one per core), or 0 when the decode-then-infer pipeline runs.</summary>
    internal int Workers => _workers;

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
    internal ImageFeaturizer(MLContext mlContext, BackboneSpec backbone, byte[] graph, FeaturizerOptions? options)
        : this(mlContext, backbone, graph, options, (folder, d, tf32) => new FeatureCache(folder, backbone.Name, graph, d, tf32))
    {
    }

    private ImageFeaturizer(MLContext mlContext, BackboneSpec backbone, byte[] graph, FeaturizerOptions? options, Func<string, int, bool, FeatureCache> openCache)
    {
        _mlContext = mlContext ?? throw new ArgumentNullException(nameof(mlContext));
        _backbone = backbone;
        _options = options ?? new FeaturizerOptions();
        if (_options.BatchSize < 0)
            throw new ArgumentOutOfRangeException(nameof(options), _options.BatchSize, "BatchSize must be positive (or 0 for the device's default).");
        _pixelsPerImage = 3 * backbone.ResizeSize * backbone.ResizeSize;
        // On the CPU by default: one single-threaded session call per core (see FeaturizerOptions.DecodeThreads); the
        // session is created for it, and a CUDA request that falls back keeps the pipeline below.
        _workers = _options.Device.Kind == DeviceKind.Cpu && _options.InferenceThreads == 0 && _options.DecodeThreads == 0
            ? Environment.ProcessorCount : 0;
        int threads = _workers > 0 ? 1 : _options.InferenceThreads > 0 ? _options.InferenceThreads : Environment.ProcessorCount;
        _session = OrtSessions.Create(graph, threads, _options.Device, _options.RequireDevice, _options.AllowTf32, out var actual, out var reason);
        try
        {
            Device = actual;
            FallbackReason = reason;
            UsesTf32 = actual.IsCuda && _options.AllowTf32;
            _batchSize = _options.BatchSize > 0 ? _options.BatchSize : actual.DefaultBatchSize;
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
        if (_workers > 0)
            RunWorkers(images, contentKeys, readers, features, ok, skipped, progress, clock, stages, cancellationToken);
        else
            RunPipeline(images, contentKeys, readers, features, ok, skipped, progress, clock, stages, cancellationToken);

        var indices = Enumerable.Range(0, images.Count).Where(i => ok[i]).ToArray();
        var matrix = new FeatureMatrix(features, images.Count, d).Select(indices);
        skipped.Sort((a, b) => a.Index.CompareTo(b.Index));
        return new FeaturizationResult(matrix, indices, skipped, clock.Elapsed) { Stages = stages.Result() };
    }

    /// <summary>
    /// The CPU default: <see cref="_workers"/> threads each take the next batch, decode it and run it through the
    /// single-threaded session (ONNX Runtime sessions take concurrent calls), so decoding and inference never compete
    /// for a core inside one call; docs/speed-and-memory.md has the measurement against one multi-threaded caller.
    /// </summary>
    private void RunWorkers(IReadOnlyList<ImageSource> images, IReadOnlyList<string?>? contentKeys, PixelReaders readers, float[] features, bool[] ok,
        List<SkippedImage> skipped, IProgress<FeaturizationProgress>? progress, Stopwatch clock, StageTimer stages, CancellationToken cancellationToken)
    {
        int batches = (images.Count + _batchSize - 1) / _batchSize;
        int next = -1, done = 0;
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        void Work()
        {
            var buffer = new float[_batchSize * _pixelsPerImage];
            using var runOptions = new RunOptions();
            try
            {
                for (int b = Interlocked.Increment(ref next); b < batches; b = Interlocked.Increment(ref next))
                {
                    cts.Token.ThrowIfCancellationRequested();
                    int start = b * _batchSize;
                    var batch = new Batch(start, Math.Min(_batchSize, images.Count - start), buffer);
                    long decoding = Stopwatch.GetTimestamp();
                    for (int slot = 0; slot < batch.Count; slot++)
                        Read(images, contentKeys, readers, batch, slot);
                    stages.Add(ref stages.Decode, decoding);
                    Run(batch, features, ok, Dimensions, runOptions, stages);
                    lock (skipped)
                    {
                        skipped.AddRange(batch.Skipped);
                        done += batch.Count;
                        progress?.Report(new FeaturizationProgress(done, images.Count, done / clock.Elapsed.TotalSeconds));
                    }
                }
            }
            catch
            {
                cts.Cancel(); // the other workers stop at their next batch
                throw;
            }
        }
        var threads = Enumerable.Range(0, Math.Min(_workers, batches)).Select(_ => Task.Factory.StartNew(Work, CancellationToken.None,
            TaskCreationOptions.LongRunning, TaskScheduler.Default)).ToArray();
        try
        {
            Task.WaitAll(threads);
        }
        catch (AggregateException e)
        {
            // The first real failure, not the cancellations it caused in the other workers (the caller's own cancellation included).
            var first = e.InnerExceptions.FirstOrDefault(x => x is not OperationCanceledException) ?? e.InnerExceptions[0];
            if (first is OperationCanceledException) cancellationToken.ThrowIfCancellationRequested();
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(first).Throw();
        }
    }

    /// <summary>Decodes image <paramref name="slot"/> of <paramref name="batch"/> into its place in the batch buffer, or records why not.</summary>
    private void Read(IReadOnlyList<ImageSource> images, IReadOnlyList<string?>? contentKeys, PixelReaders readers, Batch batch, int slot)
    {
        int index = batch.Start + slot;
        var pixels = batch.Buffer.AsSpan(slot * _pixelsPerImage, _pixelsPerImage);
        var error = readers.TryRead(images[index], pixels);
        if (error is not null)
        {
            lock (batch.Skipped) batch.Skipped.Add(new SkippedImage(index, images[index].Name, error));
            return;
        }
        var view = ViewOf(images[index], index, contentKeys?[index]);
        if (view != PlaneView.Identity)
        {
            var original = System.Buffers.ArrayPool<float>.Shared.Rent(pixels.Length);
            pixels.CopyTo(original);
            view.Apply(original.AsSpan(0, pixels.Length), pixels, _backbone.ResizeSize);
            System.Buffers.ArrayPool<float>.Shared.Return(original);
        }
        batch.Ok[slot] = true;
    }

    /// <summary>
    /// Decoding on all cores into pooled batch buffers, a bounded channel, and one session call per batch using every
    /// core: for CUDA, and on the CPU when thread counts are set.
    /// </summary>
    private void RunPipeline(IReadOnlyList<ImageSource> images, IReadOnlyList<string?>? contentKeys, PixelReaders readers, float[] features, bool[] ok,
        List<SkippedImage> skipped, IProgress<FeaturizationProgress>? progress, Stopwatch clock, StageTimer stages, CancellationToken cancellationToken)
    {
        int d = Dimensions;
        var channel = Channel.CreateBounded<Batch>(new BoundedChannelOptions(2) { SingleReader = true, SingleWriter = true });
        var free = new Stack<float[]>();

        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var producer = Task.Run(() => Produce(images, contentKeys, readers, channel.Writer, free, stages, cts.Token), cts.Token);
        int done = 0;
        try
        {
            long waiting = Stopwatch.GetTimestamp();
            foreach (var batch in channel.Reader.ReadAllAsync(cts.Token).ToBlockingEnumerable(cts.Token))
            {
                stages.Add(ref stages.InferenceWait, waiting);
                Run(batch, features, ok, d, _runOptions, stages);
                lock (skipped) skipped.AddRange(batch.Skipped);
                lock (free) free.Push(batch.Buffer);
                done += batch.Count;
                progress?.Report(new FeaturizationProgress(done, images.Count, done / clock.Elapsed.TotalSeconds));
                waiting = Stopwatch.GetTimestamp();
            }
            producer.GetAwaiter().GetResult();
        }
        catch
        {
            cts.Cancel();
            try { producer.Wait(); } catch (AggregateException) { }
            throw;
        }
    }

    private void Produce(IReadOnlyList<ImageSource> images, IReadOnlyList<string?>? contentKeys, PixelReaders readers, ChannelWriter<Batch> writer,
        Stack<float[]> free, StageTimer stages, CancellationToken token)
    {
        var parallel = new ParallelOptions
        {
            MaxDegreeOfParallelism = _options.DecodeThreads > 0 ? _options.DecodeThreads : Environment.ProcessorCount,
            CancellationToken = token,
        };
        try
        {
            for (int start = 0; start < images.Count; start += _batchSize)
            {
                int count = Math.Min(_batchSize, images.Count - start);
                float[]? buffer;
                lock (free) free.TryPop(out buffer);
                var batch = new Batch(start, count, buffer ?? new float[_batchSize * _pixelsPerImage]);
                long decoding = Stopwatch.GetTimestamp();
                Parallel.For(0, count, parallel, slot => Read(images, contentKeys, readers, batch, slot));
                stages.Add(ref stages.Decode, decoding);
                long blocked = Stopwatch.GetTimestamp();
                writer.WriteAsync(batch, token).AsTask().GetAwaiter().GetResult();
                stages.Add(ref stages.DecodeBlocked, blocked);
            }
            writer.Complete();
        }
        catch (Exception e)
        {
            writer.Complete(e);
        }
    }

    private void Run(Batch batch, float[] features, bool[] ok, int d, RunOptions runOptions, StageTimer stages)
    {
        Interlocked.Increment(ref stages.Batches);
        // Compact readable images to the front so one call covers them all.
        int n = 0;
        var rows = new int[batch.Count];
        for (int slot = 0; slot < batch.Count; slot++)
        {
            if (!batch.Ok[slot]) continue;
            if (n != slot)
                batch.Buffer.AsSpan(slot * _pixelsPerImage, _pixelsPerImage).CopyTo(batch.Buffer.AsSpan(n * _pixelsPerImage, _pixelsPerImage));
            rows[n++] = batch.Start + slot;
        }
        if (n == 0) return;

        var memory = new Memory<float>(batch.Buffer, 0, n * _pixelsPerImage);
        using var input = OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, memory, [n, 3, _backbone.ResizeSize, _backbone.ResizeSize]);
        long running = Stopwatch.GetTimestamp();
        using var outputs = _session.Run(runOptions, [FeaturizerGraph.InputName], [input], [FeaturizerGraph.OutputName]);
        stages.Add(ref stages.Inference, running);
        var values = outputs[0].GetTensorDataAsSpan<float>();
        for (int i = 0; i < n; i++)
        {
            values.Slice(i * d, d).CopyTo(features.AsSpan(rows[i] * d, d));
            ok[rows[i]] = true;
        }
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _session.Dispose();
        _runOptions.Dispose();
    }

    /// <summary>Stopwatch ticks per stage of one call, added from any thread (see <see cref="FeaturizationStages"/>).</summary>
    private sealed class StageTimer
    {
        public int Batches;
        public long Decode, Inference, InferenceWait, DecodeBlocked;

        /// <summary>Adds the ticks since <paramref name="since"/> to <paramref name="counter"/>.</summary>
        public void Add(ref long counter, long since) => Interlocked.Add(ref counter, Stopwatch.GetTimestamp() - since);

        public FeaturizationStages Result()
        {
            static double Seconds(long ticks) => (double)ticks / Stopwatch.Frequency;
            return new(Batches, Seconds(Decode), Seconds(Inference), Seconds(InferenceWait), Seconds(DecodeBlocked));
        }
    }

    private sealed class Batch(int start, int count, float[] buffer)
    {
        public int Start { get; } = start;
        public int Count { get; } = count;
        public float[] Buffer { get; } = buffer;
        public bool[] Ok { get; } = new bool[count];
        public List<SkippedImage> Skipped { get; } = [];
    }
}

using Microsoft.Extensions.ObjectPool;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetClassify.Featurization;
using MLNetClassify.Images;
using MLNetClassify.Models;

namespace MLNetClassify.Serving;

/// <summary>
/// Thread-safe scoring of uploads for services: one model zip loaded once, each image decoded as training decoded it
/// (upright, DCT-scaled, size-limited, truncation refused). A classifier zip of the library's is scored through its one
/// scoring path, one ONNX Runtime session shared by every request (the trunk, then the softmax tail), without loading
/// ML.NET's chain; any other zip (a pixel perceptron, a chain with other steps) through a bounded pool of ML.NET
/// prediction engines (<see cref="PredictionEngine{TSrc, TDst}"/> is not thread-safe). <see cref="Reload"/> swaps in a
/// new version of the zip while requests run: each prediction is made wholly by the old model or wholly by the new one,
/// and the old one's ONNX sessions are released when its last request ends. Get one from
/// <c>mlContext.ImageClassification().CreatePool</c>.
/// </summary>
public sealed class ImageClassifierPool : IDisposable
{
    private readonly MLContext _mlContext;
    private readonly ImageDecoding _decoding;
    private readonly SemaphoreSlim _slots;
    private readonly Lock _swap = new();
    private Generation? _current;
    private int _enginesCreated, _enginesAlive;

    internal ImageClassifierPool(MLContext mlContext, string modelPath, int maxEngines, ImageDecoding decoding)
    {
        ArgumentNullException.ThrowIfNull(mlContext);
        ArgumentException.ThrowIfNullOrEmpty(modelPath);
        ArgumentOutOfRangeException.ThrowIfNegative(maxEngines);
        _mlContext = mlContext;
        _decoding = decoding;
        ModelPath = Path.GetFullPath(modelPath);
        MaxEngines = maxEngines == 0 ? Environment.ProcessorCount : maxEngines;
        _slots = new SemaphoreSlim(MaxEngines, MaxEngines);
        _current = Load();
    }

    /// <summary>The model zip this pool loads (and reloads).</summary>
    public string ModelPath { get; }

    /// <summary>The most predictions running at once (and engines alive, for zips scored through ML.NET); callers beyond it wait.</summary>
    public int MaxEngines { get; }

    /// <summary>The current model's class names, in score order.</summary>
    /// <exception cref="ObjectDisposedException">The pool is disposed.</exception>
    public IReadOnlyList<string> ClassNames => (Volatile.Read(ref _current) ?? throw Disposed()).Classes;

    /// <summary>Engines made so far, over every model version (a classifier model's shared scorer counts as one; tests: never more alive than <see cref="MaxEngines"/>).</summary>
    internal int EnginesCreated => Volatile.Read(ref _enginesCreated);

    /// <summary>Engines not yet disposed.</summary>
    internal int EnginesAlive => Volatile.Read(ref _enginesAlive);

    /// <summary>Scores the image file at <paramref name="imagePath"/> (a relative path is taken from the current directory, or from the image folder of an ML.NET chain's loader).</summary>
    /// <exception cref="InvalidDataException">The file cannot be used (missing, not an image, over the pixel limit, cut short); the message names it and says why.</exception>
    /// <exception cref="ObjectDisposedException">The pool is disposed.</exception>
    public ImagePrediction Predict(string imagePath)
    {
        ArgumentException.ThrowIfNullOrEmpty(imagePath);
        return Run(scorer => scorer.Score(imagePath), problem => $"{imagePath}: {problem}");
    }

    /// <summary>Scores an encoded image read from <paramref name="image"/> (an upload's stream; bytes: a MemoryStream).</summary>
    /// <exception cref="InvalidDataException">The data cannot be used; the message says why.</exception>
    /// <exception cref="ObjectDisposedException">The pool is disposed.</exception>
    public ImagePrediction Predict(Stream image)
    {
        ArgumentNullException.ThrowIfNull(image);
        return Run(scorer => scorer.Score(image), problem => $"The uploaded image cannot be used: {problem}");
    }

    /// <summary>
    /// Scores one blank image with the current model, so that the first real request does not pay for ONNX Runtime's
    /// first run (a service calls this before it reports ready, and after <see cref="Reload"/>).
    /// </summary>
    /// <exception cref="ObjectDisposedException">The pool is disposed.</exception>
    public void WarmUp() =>
        Run(scorer =>
        {
            using var blank = MLImage.CreateFromPixels(scorer.Side, scorer.Side, MLPixelFormat.Bgra32, new byte[4 * scorer.Side * scorer.Side]);
            return (scorer.Score(blank), null);
        }, problem => problem);

    /// <summary>
    /// Loads <see cref="ModelPath"/> again (write new versions atomically, e.g. with <c>SaveModel</c>) and makes it
    /// the model of every later prediction; predictions already running finish on the old one, whose engines and ONNX
    /// sessions are then released. When the file cannot be loaded, the current model stays and this throws.
    /// </summary>
    /// <exception cref="InvalidDataException">The new version cannot be loaded (damaged, or unable to score images); the current model stays.</exception>
    /// <exception cref="ObjectDisposedException">The pool is disposed.</exception>
    public void Reload()
    {
        var fresh = Load();
        Generation? old;
        lock (_swap)
        {
            old = _current;
            if (old is not null) Volatile.Write(ref _current, fresh);
        }
        if (old is null)
        {
            fresh.Leave();
            throw Disposed();
        }
        old.Leave(); // the pool's own hold on it; running predictions hold theirs
    }

    /// <summary>Releases the model and its engines once the predictions running now have finished.</summary>
    public void Dispose()
    {
        Generation? old;
        lock (_swap)
        {
            old = _current;
            Volatile.Write(ref _current, null);
        }
        old?.Leave();
    }

    private ImagePrediction Run(Func<IImageScorer, (float[]? Score, string? Problem)> score, Func<string, string> refusal)
    {
        _slots.Wait();
        try
        {
            var generation = Enter();
            try
            {
                var scorer = generation.Rent();
                (float[]? Score, string? Problem) result;
                try { result = score(scorer); }
                finally { generation.Return(scorer); }
                if (result.Score is null)
                    throw new InvalidDataException(refusal(result.Problem!));
                int best = Array.IndexOf(result.Score, result.Score.Max());
                return new ImagePrediction(generation.Classes[best], result.Score[best], result.Score, generation.Classes);
            }
            finally
            {
                generation.Leave();
            }
        }
        finally
        {
            _slots.Release();
        }
    }

    /// <summary>The current generation, held for one prediction (retried when a reload retires it meanwhile).</summary>
    private Generation Enter()
    {
        while (true)
        {
            var generation = Volatile.Read(ref _current) ?? throw Disposed();
            if (generation.TryEnter()) return generation;
        }
    }

    private Generation Load()
    {
        // A classifier zip of the library's: its model, read without ML.NET when the head record is intact.
        if (ClassifierModel.TryRead(_mlContext, ModelPath) is { } classifier)
        {
            var options = new FeaturizerOptions
            {
                MaxImagePixels = _decoding.MaxPixels,
                AcceptIncompleteImages = _decoding.AcceptIncomplete,
                // Single-threaded session calls, one per request at once (servelab: more requests/s under load than one call on every core)
            };
            try
            {
                return new Generation(this, new SharedClassifierScorer(new ClassifierScorer(_mlContext, classifier, ModelPath, options), _decoding), classifier.Classes);
            }
            catch (InvalidDataException e)
            {
                throw new InvalidDataException($"{ModelPath} loads, but cannot score images: {e.Message}", e);
            }
        }
        var model = ModelFiles.Load(_mlContext, ModelPath, out var schema);
        try
        {
            var generation = new Generation(this, model, schema, ModelInfo.Classes(_mlContext, model));
            // Its first engine now: a zip that loads but cannot score images (no image column, no class names) is refused here.
            generation.Return(generation.Rent());
            return generation;
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or KeyNotFoundException)
        {
            (model as IDisposable)?.Dispose();
            throw new InvalidDataException($"{ModelPath} loads, but cannot score images: {e.Message}", e);
        }
    }

    private ObjectDisposedException Disposed() => new(nameof(ImageClassifierPool), $"The pool over {ModelPath} is disposed.");

    /// <summary>One loaded version of the model, what scores with it, and how many holders it has (the pool, and running predictions).</summary>
    private sealed class Generation : IPooledObjectPolicy<DecodedImageScorer>
    {
        private readonly ImageClassifierPool _owner;
        private readonly ITransformer? _model;
        private readonly Microsoft.ML.DataViewSchema? _schema;
        private readonly SharedClassifierScorer? _shared;
        private readonly ObjectPool<DecodedImageScorer>? _engines;
        private int _holders = 1;

        /// <summary>A classifier model: one scorer for every request.</summary>
        public Generation(ImageClassifierPool owner, SharedClassifierScorer shared, IReadOnlyList<string> classes)
        {
            (_owner, _shared, Classes) = (owner, shared, classes);
            Interlocked.Increment(ref owner._enginesCreated);
            Interlocked.Increment(ref owner._enginesAlive);
        }

        /// <summary>Another ML.NET chain: engines made as requests need them.</summary>
        public Generation(ImageClassifierPool owner, ITransformer model, Microsoft.ML.DataViewSchema schema, IReadOnlyList<string> classes)
        {
            (_owner, _model, _schema, Classes) = (owner, model, schema, classes);
            // At most MaxEngines are in use at once (the pool's slots), so at most that many are ever made or kept.
            _engines = new DefaultObjectPoolProvider { MaximumRetained = owner.MaxEngines }.Create(this);
        }

        public IReadOnlyList<string> Classes { get; }

        /// <summary>A scorer for one prediction; give it back with <see cref="Return"/>.</summary>
        public IImageScorer Rent() => _shared ?? (IImageScorer)_engines!.Get();

        public void Return(IImageScorer scorer)
        {
            if (scorer is DecodedImageScorer engine) _engines!.Return(engine);
        }

        public bool TryEnter()
        {
            int holders;
            do
            {
                holders = Volatile.Read(ref _holders);
                if (holders == 0) return false;
            }
            while (Interlocked.CompareExchange(ref _holders, holders + 1, holders) != holders);
            return true;
        }

        public void Leave()
        {
            if (Interlocked.Decrement(ref _holders) != 0) return;
            if (_shared is not null)
            {
                _shared.Dispose(); // its ONNX session
                Interlocked.Decrement(ref _owner._enginesAlive);
                return;
            }
            (_engines as IDisposable)?.Dispose(); // disposes the engines it keeps
            (_model as IDisposable)?.Dispose();   // the ONNX sessions
        }

        DecodedImageScorer IPooledObjectPolicy<DecodedImageScorer>.Create()
        {
            Interlocked.Increment(ref _owner._enginesCreated);
            Interlocked.Increment(ref _owner._enginesAlive);
            return new DecodedImageScorer(_owner._mlContext, _model!, _owner._decoding, _schema, () => Interlocked.Decrement(ref _owner._enginesAlive));
        }

        bool IPooledObjectPolicy<DecodedImageScorer>.Return(DecodedImageScorer obj) => true;
    }
}

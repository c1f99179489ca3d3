using Microsoft.Extensions.ObjectPool;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetClassify.Images;
using MLNetClassify.Models;

namespace MLNetClassify.Serving;

/// <summary>
/// Thread-safe scoring of uploads for services: one model zip loaded once, a bounded pool of prediction engines over it
/// (ML.NET's <see cref="PredictionEngine{TSrc, TDst}"/> is not thread-safe), each image decoded as training decoded it
/// (upright, DCT-scaled, size-limited, truncation refused). <see cref="Reload"/> swaps in a new version of the zip
/// while requests run: each prediction is made wholly by the old model or wholly by the new one, and the old one's
/// ONNX sessions are released when its last request ends. Get one from <c>mlContext.ImageClassification().CreatePool</c>.
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

    /// <summary>The most engines alive at once; callers beyond it wait for one.</summary>
    public int MaxEngines { get; }

    /// <summary>The current model's class names, in score order.</summary>
    /// <exception cref="ObjectDisposedException">The pool is disposed.</exception>
    public IReadOnlyList<string> ClassNames => (Volatile.Read(ref _current) ?? throw Disposed()).Classes;

    /// <summary>Engines made so far, over every model version (tests: never more alive than <see cref="MaxEngines"/>).</summary>
    internal int EnginesCreated => Volatile.Read(ref _enginesCreated);

    /// <summary>Engines not yet disposed.</summary>
    internal int EnginesAlive => Volatile.Read(ref _enginesAlive);

    /// <summary>Scores the image file at <paramref name="imagePath"/>.</summary>
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

    private ImagePrediction Run(Func<DecodedImageScorer, (float[]? Score, string? Problem)> score, Func<string, string> refusal)
    {
        _slots.Wait();
        try
        {
            var generation = Enter();
            try
            {
                var scorer = generation.Engines.Get();
                (float[]? Score, string? Problem) result;
                try { result = score(scorer); }
                finally { generation.Engines.Return(scorer); }
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
        var model = ModelFiles.Load(_mlContext, ModelPath, out var schema);
        try
        {
            var generation = new Generation(this, model, schema, ModelInfo.Classes(_mlContext, model));
            // Its first engine now: a zip that loads but cannot score images (no image column, no class names) is refused here.
            generation.Engines.Return(generation.Engines.Get());
            return generation;
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or KeyNotFoundException)
        {
            (model as IDisposable)?.Dispose();
            throw new InvalidDataException($"{ModelPath} loads, but cannot score images: {e.Message}", e);
        }
    }

    private ObjectDisposedException Disposed() => new(nameof(ImageClassifierPool), $"The pool over {ModelPath} is disposed.");

    /// <summary>One loaded version of the model, its engines, and how many holders it has (the pool, and running predictions).</summary>
    private sealed class Generation : IPooledObjectPolicy<DecodedImageScorer>
    {
        private readonly ImageClassifierPool _owner;
        private readonly ITransformer _model;
        private readonly Microsoft.ML.DataViewSchema _schema;
        private int _holders = 1;

        public Generation(ImageClassifierPool owner, ITransformer model, Microsoft.ML.DataViewSchema schema, IReadOnlyList<string> classes)
        {
            (_owner, _model, _schema, Classes) = (owner, model, schema, classes);
            // At most MaxEngines are in use at once (the pool's slots), so at most that many are ever made or kept.
            Engines = new DefaultObjectPoolProvider { MaximumRetained = owner.MaxEngines }.Create(this);
        }

        public IReadOnlyList<string> Classes { get; }

        public ObjectPool<DecodedImageScorer> Engines { get; }

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
            (Engines as IDisposable)?.Dispose(); // disposes the engines it keeps
            (_model as IDisposable)?.Dispose();  // the ONNX sessions
        }

        DecodedImageScorer IPooledObjectPolicy<DecodedImageScorer>.Create()
        {
            Interlocked.Increment(ref _owner._enginesCreated);
            Interlocked.Increment(ref _owner._enginesAlive);
            return new DecodedImageScorer(_owner._mlContext, _model, _owner._decoding, _schema, () => Interlocked.Decrement(ref _owner._enginesAlive));
        }

        bool IPooledObjectPolicy<DecodedImageScorer>.Return(DecodedImageScorer obj) => true;
    }
}

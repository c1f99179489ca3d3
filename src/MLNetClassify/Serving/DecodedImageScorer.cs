using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms.Image;
using MLNetClassify.Data;
using MLNetClassify.Images;
using MLNetClassify.Models;

namespace MLNetClassify.Serving;

/// <summary>
/// Scores image files with a loaded model the way training saw them: each file goes through
/// <see cref="ImageDecoder"/> (upright, DCT-scaled, size-limited, truncation refused) and the model's steps after its
/// own image loader take the decoded image. ML.NET's loader, which the plain path-based PredictionEngine runs, decodes
/// at full size and ignores EXIF orientation.
/// </summary>
/// <remarks>
/// Relies on the loaded chain's shape (tested ML.NET range): one <see cref="ImageLoadingTransformer"/> whose output
/// column the rest reads. A model without one (trained on in-memory images) is scored as it is, on decoded images
/// fed to its input column. Not thread-safe, like the PredictionEngine it holds.
/// </remarks>
internal sealed class DecodedImageScorer : IImageScorer
{
    private readonly PredictionEngine<DecodedRow, ScoreRow> _engine;
    private readonly string? _imageFolder;
    private readonly int _side;
    private readonly ImageDecoding _decoding;
    private readonly Action? _disposed;

    /// <param name="mlContext">The context the model was loaded in.</param>
    /// <param name="model">A loaded (or fitted) image classifier.</param>
    /// <param name="decoding">Pixel limit and truncation handling.</param>
    /// <param name="inputSchema">The schema the model takes (saved with it); null: an ImagePath and a Label text column.</param>
    /// <param name="disposed">Called once when this scorer is disposed (a pool counts its engines).</param>
    public DecodedImageScorer(MLContext mlContext, ITransformer model, ImageDecoding? decoding = null, DataViewSchema? inputSchema = null, Action? disposed = null)
    {
        _disposed = disposed;
        var bypass = Bypass(mlContext, model, inputSchema);
        _imageFolder = bypass.ImageFolder;
        _side = bypass.Side;
        _decoding = decoding ?? ImageDecoding.Default;
        _engine = mlContext.Model.CreatePredictionEngine<DecodedRow, ScoreRow>(bypass.Steps,
            new PredictionEngineOptions { OwnsTransformer = false, InputSchemaDefinition = bypass.Schema });
    }

    /// <summary>The side the model resizes images to (its DCT decode target).</summary>
    public int Side => _side;

    /// <summary>
    /// Scores <paramref name="images"/> with the model's steps after its loader, decoding each lazily as the returned
    /// view is read (one image in memory at a time). Files that cannot be decoded are left out and reported to
    /// <paramref name="skip"/> (once each, with their index in <paramref name="images"/>).
    /// </summary>
    public static IDataView Transform(MLContext mlContext, ITransformer model, IReadOnlyList<LabeledImage> images, Action<SkippedImage> skip,
        ImageDecoding? decoding = null, DataViewSchema? inputSchema = null)
    {
        var bypass = Bypass(mlContext, model, inputSchema);
        decoding ??= ImageDecoding.Default;
        var reported = new HashSet<int>();
        IEnumerable<DecodedRow> Rows()
        {
            MLImage? previous = null;
            try
            {
                for (int i = 0; i < images.Count; i++)
                {
                    var image = images[i];
                    var decoded = ImageDecoder.Decode(Resolve(bypass.ImageFolder, image.ImagePath), bypass.Side, decoding);
                    if (decoded.Image is null)
                    {
                        if (reported.Add(i)) skip(new SkippedImage(i, image.ImagePath, decoded.Problem!));
                        continue;
                    }
                    previous?.Dispose(); // the cursor has moved past the row that held it
                    previous = decoded.Image;
                    yield return new DecodedRow { ImagePath = image.ImagePath, Label = image.Label, Image = decoded.Image };
                }
            }
            finally
            {
                previous?.Dispose();
            }
        }
        return bypass.Steps.Transform(mlContext.Data.LoadFromEnumerable(Rows(), bypass.Schema));
    }

    private sealed record Route(ITransformer Steps, SchemaDefinition Schema, string ImageColumn, string? ImageFolder, int Side);

    private static Route Bypass(MLContext mlContext, ITransformer model, DataViewSchema? inputSchema)
    {
        ArgumentNullException.ThrowIfNull(model);
        var (steps, loader) = AfterLoader(model);
        inputSchema ??= mlContext.Data.LoadFromEnumerable(Array.Empty<LabeledImage>()).Schema;
        // The loader's output column: the image column it adds to the schema it reads (its column pairs are internal).
        string imageColumn = loader is null
            ? nameof(DecodedRow.Image)
            : loader.GetOutputSchema(inputSchema).First(c => c.Type is ImageDataViewType && inputSchema.GetColumnOrNull(c.Name) is null).Name;
        var schema = SchemaDefinition.Create(typeof(DecodedRow));
        schema[nameof(DecodedRow.Image)].ColumnName = imageColumn;
        // The resize size: the fixed-size image column of the model's output (the resize step's, 224×224 for ResNet18).
        int side = model.GetOutputSchema(inputSchema).Select(c => c.Type).OfType<ImageDataViewType>()
            .Where(t => t.Height > 0 && t.Width > 0).Select(t => Math.Min(t.Height, t.Width)).DefaultIfEmpty(224).Min();
        return new Route(steps, schema, imageColumn, loader?.ImageFolder, side);
    }

    /// <summary>Class probabilities (key order) for the file at <paramref name="path"/>, or why it cannot be scored.</summary>
    public (float[]? Score, string? Problem) Score(string path)
    {
        var decoded = ImageDecoder.Decode(Resolve(_imageFolder, path), _side, _decoding);
        if (decoded.Problem is { } problem)
            return (null, problem);
        using var image = decoded.Image!;
        return (Score(image), null);
    }

    /// <summary>Class probabilities (key order) for an encoded image in <paramref name="stream"/>, or why it cannot be scored.</summary>
    public (float[]? Score, string? Problem) Score(Stream stream)
    {
        var decoded = ImageDecoder.Decode(stream, _side, _decoding);
        if (decoded.Problem is { } problem)
            return (null, problem);
        using var image = decoded.Image!;
        return (Score(image), null);
    }

    /// <summary>Class probabilities for an image already decoded (not disposed here).</summary>
    public float[] Score(MLImage image) => _engine.Predict(new DecodedRow { Image = image }).Score;

    /// <summary>The chain's steps after its image loader, and the column the loader fills (the model's input when none).</summary>
    internal static (ITransformer Steps, string ImageColumn) AfterLoader(MLContext mlContext, ITransformer model, DataViewSchema? inputSchema)
    {
        var route = Bypass(mlContext, model, inputSchema);
        return (route.Steps, route.ImageColumn);
    }

    /// <summary>The chain's steps after its image loader, and the loader (null when there is none).</summary>
    internal static (ITransformer Steps, ImageLoadingTransformer? Loader) AfterLoader(ITransformer model)
    {
        var leaves = ModelInfo.Leaves(model).ToList();
        var loader = leaves.OfType<ImageLoadingTransformer>().FirstOrDefault();
        return loader is null ? (model, null) : (new TransformerChain<ITransformer>(leaves.Where(t => t != loader).ToArray()), loader);
    }

    /// <summary>A path as the model's image loader would resolve it: relative paths against its image folder.</summary>
    private static string Resolve(string? imageFolder, string path) =>
        imageFolder is not null && !Path.IsPathRooted(path) ? Path.Combine(imageFolder, path) : path;

    public void Dispose()
    {
        _engine.Dispose();
        _disposed?.Invoke();
    }

    /// <summary>One decoded image; the path and label columns are there for models whose first steps read them.</summary>
    private sealed class DecodedRow
    {
        public string ImagePath { get; set; } = "";
        public string Label { get; set; } = "";

        [ImageType(224, 224)] // ML.NET 5.0.1 needs a declared size; the resize step sets the real one
        public MLImage? Image { get; set; }
    }

    private sealed class ScoreRow
    {
        public float[] Score { get; set; } = [];
    }
}

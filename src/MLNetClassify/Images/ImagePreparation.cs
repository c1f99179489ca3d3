using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms.Image;

namespace MLNetClassify.Images;

/// <summary>
/// The image steps every MLNetClassify model starts with, built from stock ML.NET transforms so that the
/// batched featurizer and a saved model's PredictionEngine turn an image into exactly the same pixels:
/// (load from path) → resize to S×S (ML.NET's default iso-crop, centred) → RGB planes 0–255.
/// </summary>
internal static class ImagePreparation
{
    /// <summary>Column that holds the decoded image inside a pipeline.</summary>
    public const string ImageColumn = "Image";

    /// <summary>Column that holds the pixel planes fed to the backbone.</summary>
    public const string PixelsColumn = "Pixels";

    /// <summary>
    /// Stock estimators from <paramref name="inputColumnName"/> (a path string, or an <see cref="MLImage"/>)
    /// to a <see cref="PixelsColumn"/> column of 3·S·S floats.
    /// </summary>
    /// <param name="mlContext">The ML.NET context.</param>
    /// <param name="inputColumnName">Image path (text) or image (<see cref="MLImage"/>) column.</param>
    /// <param name="inputIsPath">True when the input column holds paths to load.</param>
    /// <param name="size">Side length S.</param>
    /// <param name="imageFolder">Folder that relative paths are resolved against; null for absolute paths.</param>
    public static IEstimator<ITransformer> Estimators(MLContext mlContext, string inputColumnName, bool inputIsPath, int size, string? imageFolder = null)
    {
        ArgumentNullException.ThrowIfNull(mlContext);
        IEstimator<ITransformer> chain = new EstimatorChain<ITransformer>();
        string image = inputColumnName;
        if (inputIsPath)
        {
            chain = chain.Append(mlContext.Transforms.LoadImages(ImageColumn, imageFolder, inputColumnName));
            image = ImageColumn;
        }
        return chain
            .Append(mlContext.Transforms.ResizeImages(ImageColumn, size, size, image))
            .Append(mlContext.Transforms.ExtractPixels(PixelsColumn, ImageColumn));
    }
}

/// <summary>PredictionEngine input: an in-memory image.</summary>
internal sealed class ImageRow
{
    // ML.NET 5.0.1: the parameterless ImageType attribute throws (height 0); the declared size is not checked
    // against the image, and the resize step that follows sets the real one.
    [ImageType(224, 224)]
    public MLImage? Image { get; set; }
}

/// <summary>PredictionEngine output: the pixel planes.</summary>
internal sealed class PixelsRow
{
    public float[] Pixels { get; set; } = [];
}

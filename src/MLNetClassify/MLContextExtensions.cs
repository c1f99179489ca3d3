using Microsoft.ML;

namespace MLNetClassify;

/// <summary>The entry point: <c>mlContext.ImageClassification()</c>.</summary>
public static class MLContextExtensions
{
    /// <summary>MLNetClassify's estimators and helpers for <paramref name="mlContext"/>.</summary>
    public static ImageClassificationCatalog ImageClassification(this MLContext mlContext)
    {
        ArgumentNullException.ThrowIfNull(mlContext);
        return new ImageClassificationCatalog(mlContext);
    }
}

using System.Diagnostics;
using Microsoft.ML;
using MLNetClassify.Data;

namespace MLNetClassify.Images;

/// <summary>Bulk reading of images into raw pixel planes (the perceptrons' input), on all cores.</summary>
internal static class ImagePixels
{
    /// <summary>
    /// Reads every image resized to <paramref name="size"/>×<paramref name="size"/> as 3·S·S values in 0–255, through
    /// the same stock transforms a saved model uses. Unreadable images are reported in the result's skips.
    /// </summary>
    /// <exception cref="OperationCanceledException">Cancelled.</exception>
    public static FeaturizationResult Read(MLContext mlContext, IReadOnlyList<ImageSource> images, int size, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        int d = 3 * size * size;
        var values = new float[(long)images.Count * d];
        var ok = new bool[images.Count];
        var skipped = new List<SkippedImage>();
        using var readers = new PixelReaders(mlContext, size);
        Parallel.For(0, images.Count, new ParallelOptions { CancellationToken = cancellationToken }, i =>
        {
            var error = readers.TryRead(images[i], values.AsSpan(i * d, d));
            if (error is null)
                ok[i] = true;
            else
                lock (skipped) skipped.Add(new SkippedImage(i, images[i].Name, error));
        });
        var indices = Enumerable.Range(0, images.Count).Where(i => ok[i]).ToArray();
        skipped.Sort((a, b) => a.Index.CompareTo(b.Index));
        var matrix = indices.Length == images.Count ? new FeatureMatrix(values, images.Count, d) : new FeatureMatrix(values, images.Count, d).Select(indices);
        return new FeaturizationResult(matrix, indices, skipped, clock.Elapsed);
    }
}

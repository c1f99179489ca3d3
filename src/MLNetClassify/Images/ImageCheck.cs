using Microsoft.ML.Data;
using MLNetClassify.Data;

namespace MLNetClassify.Images;

/// <summary>Finds image files that cannot be decoded, before a row-by-row ML.NET pipeline would fail on them.</summary>
internal static class ImageCheck
{
    /// <summary>Decodes every file (in parallel) and reports those that are missing or unreadable.</summary>
    public static IReadOnlyList<SkippedImage> FindUnreadable(IReadOnlyList<string> paths, CancellationToken cancellationToken = default)
    {
        var problems = new SkippedImage?[paths.Count];
        Parallel.For(0, paths.Count, new ParallelOptions { CancellationToken = cancellationToken }, i =>
        {
            problems[i] = Problem(paths[i]) is { } reason ? new SkippedImage(i, paths[i], reason) : null;
        });
        return problems.Where(p => p is not null).Select(p => p!).ToList();
    }

    /// <summary>Why <paramref name="path"/> cannot be used as an image (decoded by <see cref="ImageDecoder"/> as training would), or null.</summary>
    public static string? Problem(string path)
    {
        var decoded = ImageDecoder.Decode(path, ImageDecoderCheckSide);
        decoded.Image?.Dispose();
        return decoded.Problem;
    }

    /// <summary>The side images are decoded at for the check: a JPEG is DCT-scaled, so a large photo costs little.</summary>
    private const int ImageDecoderCheckSide = 224;
}

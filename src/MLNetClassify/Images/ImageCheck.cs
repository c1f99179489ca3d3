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

    /// <summary>Why <paramref name="path"/> cannot be used as an image, or null when it decodes.</summary>
    public static string? Problem(string path)
    {
        if (!File.Exists(path))
            return "file not found";
        try
        {
            using var image = MLImage.CreateFromFile(path);
            return image.Width > 0 && image.Height > 0 ? null : "image has no pixels";
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or IOException or NotSupportedException)
        {
            return $"cannot be decoded as an image ({e.Message.Split('\n')[0].Trim()})";
        }
    }
}

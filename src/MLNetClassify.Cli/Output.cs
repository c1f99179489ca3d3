using System.Text.Json.Serialization.Metadata;
using System.Text.Json;
using MLNetClassify.Data;
using MLNetClassify.Featurization;

namespace MLNetClassify.Cli;

/// <summary>How verbs talk: results on stdout (text, or one JSON object per line), progress and warnings on stderr.</summary>
internal static class Output
{
    /// <summary>Writes <paramref name="value"/> as one JSON line on stdout, through its source-generated contract.</summary>
    public static void JsonLine<T>(T value, JsonTypeInfo<T> contract) => Console.Out.WriteLine(JsonSerializer.Serialize(value, contract));

    /// <summary>A step of the work, on stderr so that stdout stays parseable.</summary>
    public static void Step(string message) => Console.Error.WriteLine(message);

    /// <summary>A warning on stderr.</summary>
    public static void Warn(string message) => Console.Error.WriteLine($"warning: {message}");

    /// <summary>Reports each skipped image on stderr.</summary>
    public static void ReportSkipped(IEnumerable<SkippedImage> skipped, string what)
    {
        foreach (var s in skipped)
            Warn($"skipped {what} image {s.Source}: {s.Reason}");
    }

    /// <summary>Featurization progress on stderr, at most every half second.</summary>
    public static IProgress<FeaturizationProgress> FeaturizationProgress(string label)
    {
        var last = DateTime.MinValue;
        return new SyncProgress<FeaturizationProgress>(p =>
        {
            if (p.Done < p.Total && DateTime.UtcNow - last < TimeSpan.FromSeconds(0.5)) return;
            last = DateTime.UtcNow;
            Console.Error.WriteLine($"  {label}: {p.Done}/{p.Total} images, {p.ImagesPerSecond:F1} img/s");
        });
    }

    /// <summary>An IProgress that reports on the calling thread (Progress&lt;T&gt; would post to the thread pool, out of order).</summary>
    private sealed class SyncProgress<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }
}

using System.Text.Json.Serialization;
using System.Text.Json;
using MLNetClassify.Data;
using MLNetClassify.Featurization;

namespace MLNetClassify.Cli;

/// <summary>How verbs talk: results on stdout (text, or one JSON object per line), progress and warnings on stderr.</summary>
internal static class Output
{
    private static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    /// <summary>Writes <paramref name="value"/> as one JSON line on stdout.</summary>
    public static void JsonLine(object value) => System.Console.Out.WriteLine(JsonSerializer.Serialize(value, Json));

    /// <summary>A step of the work, on stderr so that stdout stays parseable.</summary>
    public static void Step(string message) => System.Console.Error.WriteLine(message);

    /// <summary>A warning on stderr.</summary>
    public static void Warn(string message) => System.Console.Error.WriteLine($"warning: {message}");

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
            System.Console.Error.WriteLine($"  {label}: {p.Done}/{p.Total} images, {p.ImagesPerSecond:F1} img/s");
        });
    }

    /// <summary>An IProgress that reports on the calling thread (Progress&lt;T&gt; would post to the thread pool, out of order).</summary>
    private sealed class SyncProgress<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }
}

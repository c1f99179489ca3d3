using System.Diagnostics;
using System.Net.Http.Headers;
using Microsoft.ML;

namespace MLNetClassify.Benchmarks;

/// <summary>
/// Load on a running generated web service against the library's pool in one process, over the same images:
/// requests/s and p50/p99 latency for 1, 4 and 16 clients, each sending the images in turn.
/// ... -- servelab URL IMAGE_DIR MODEL_ZIP [REQUESTS_PER_LEVEL=400]
/// </summary>
internal static class ServeLab
{
    public static int Run(string url, string imageFolder, string model, int requests)
    {
        var images = Directory.EnumerateFiles(imageFolder, "*.*", SearchOption.AllDirectories)
            .Where(f => f.EndsWith(".jpg", StringComparison.OrdinalIgnoreCase) || f.EndsWith(".png", StringComparison.OrdinalIgnoreCase))
            .Order(StringComparer.Ordinal).Select(File.ReadAllBytes).ToList();
        Console.WriteLine($"{images.Count} images, {images.Average(i => i.Length) / 1e3:F0} KB on average; {Environment.ProcessorCount} cores; {requests} requests per level");
        Console.WriteLine("what                          clients   req/s    p50 ms   p99 ms");

        // In one process: the pool the service wraps, one engine per core, no HTTP.
        using (var pool = new MLContext(1).ImageClassification().CreatePool(model))
        {
            pool.WarmUp();
            foreach (int clients in new[] { 1, 4, 16 })
                Report("in process (pool)", clients, Load(clients, requests, i =>
                {
                    using var stream = new MemoryStream(images[i % images.Count], writable: false);
                    pool.Predict(stream);
                    return Task.CompletedTask;
                }));
        }

        using var http = new HttpClient { BaseAddress = new Uri(url), Timeout = TimeSpan.FromSeconds(60) };
        foreach (int clients in new[] { 1, 4, 16 })
            Report("web service (POST /predict)", clients, Load(clients, requests, async i =>
            {
                using var file = new ByteArrayContent(images[i % images.Count]);
                file.Headers.ContentType = new MediaTypeHeaderValue("image/jpeg");
                using var form = new MultipartFormDataContent { { file, "image", "upload.jpg" } };
                using var answer = await http.PostAsync("/predict", form);
                if (!answer.IsSuccessStatusCode)
                    throw new InvalidOperationException($"{(int)answer.StatusCode}: {await answer.Content.ReadAsStringAsync()}");
            }));
        return 0;
    }

    /// <summary>Runs <paramref name="requests"/> calls from <paramref name="clients"/> concurrent callers (after one warm-up round each).</summary>
    private static (double Seconds, List<double> Milliseconds) Load(int clients, int requests, Func<int, Task> call)
    {
        Task.WaitAll(Enumerable.Range(0, clients).Select(c => Task.Run(() => call(c))).ToArray());
        var latencies = new List<double>[clients];
        int next = -1;
        var wall = Stopwatch.StartNew();
        Task.WaitAll(Enumerable.Range(0, clients).Select(c => Task.Run(async () =>
        {
            latencies[c] = [];
            int i;
            while ((i = Interlocked.Increment(ref next)) < requests)
            {
                var one = Stopwatch.StartNew();
                await call(i);
                latencies[c].Add(one.Elapsed.TotalMilliseconds);
            }
        })).ToArray());
        return (wall.Elapsed.TotalSeconds, latencies.SelectMany(l => l).Order().ToList());
    }

    private static void Report(string what, int clients, (double Seconds, List<double> Milliseconds) run)
    {
        double Percentile(double p) => run.Milliseconds[Math.Min(run.Milliseconds.Count - 1, (int)(p * run.Milliseconds.Count))];
        Console.WriteLine($"{what,-29} {clients,7} {run.Milliseconds.Count / run.Seconds,7:F1} {Percentile(0.5),9:F1} {Percentile(0.99),8:F1}");
    }
}

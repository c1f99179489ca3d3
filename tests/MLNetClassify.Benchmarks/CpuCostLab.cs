using System.Diagnostics;
using System.Runtime.InteropServices;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetClassify.Images;
using SkiaSharp;

namespace MLNetClassify.Benchmarks;

/// <summary>
/// CPU cost per image of each image step, in core-milliseconds of thread CPU time (not wall time: the machine is
/// shared), on a 224-pixel JPEG, a 500×375 photo and a noisy 12-megapixel photo, on one thread and on two at once;
/// medians of rounds. Beside it: the same files through the stock path the featurizer ran before (FileStream decoder,
/// MLImage, ML.NET's PredictionEngine, copy into the batch), PIL's draft decode and tjbench, measured in the same run.
/// ... -- cpucost [WORK_DIR] [ROUNDS=7]
/// </summary>
internal static partial class CpuCostLab
{
    private const int Side = 224;

    public static int Run(string? work, int rounds)
    {
        work ??= Path.Combine(Path.GetTempPath(), "mlnetclassify-cpucost");
        Directory.CreateDirectory(work);
        Console.WriteLine($"CPU: {CpuName()}; {Environment.ProcessorCount} cores seen by .NET; {RuntimeInformation.FrameworkDescription}; {DateTime.UtcNow:yyyy-MM-dd}");
        var kinds = MakeImages(work);
        var ml = new MLContext(1);
        foreach (var (name, path, repeats) in kinds)
        {
            Console.WriteLine();
            using (var codec = SKCodec.Create(path))
                Console.WriteLine($"== {name}: {path} ({new FileInfo(path).Length / 1024.0:0} KiB, {codec.Info.Width}×{codec.Info.Height}, decoded at {ImageDecoder.ScaledSize(codec, Side)})");
            var one = Measure(ml, path, repeats, rounds, threads: 1);
            var two = Measure(ml, path, repeats, rounds, threads: 2);
            Console.WriteLine($"{"step",-44} {"1 thread",9} {"2 threads",9}   core-ms per image (median of {rounds} rounds)");
            foreach (var step in one.Steps.Keys)
                Console.WriteLine($"{step,-44} {one.Steps[step],9:0.000} {two.Steps[step],9:0.000}");
            Console.WriteLine($"{"process CPU per image, file → planes",-44} {one.ProcessMs,9:0.000} {two.ProcessMs,9:0.000}   (all threads, GC included)");
            Console.WriteLine($"{"  stock path (before), process CPU",-44} {one.StockProcessMs,9:0.000} {two.StockProcessMs,9:0.000}   ratio new/stock {one.ProcessMs / one.StockProcessMs:0.00} / {two.ProcessMs / two.StockProcessMs:0.00}");
            Console.WriteLine($"{"images/s, file → planes (wall)",-44} {one.ImagesPerSecond,9:0.0} {two.ImagesPerSecond,9:0.0}   two threads / one: {two.ImagesPerSecond / one.ImagesPerSecond:0.00}× "
                + $"(CPU-time scaling: {2 * one.Steps[EndToEnd] / two.Steps[EndToEnd]:0.00}×)");
            References(path, repeats, rounds, one.Steps["decode (GetPixels, DCT-scaled)"]);
        }
        return 0;
    }

    private const string EndToEnd = "file → planes (PixelReaders.TryRead)";

    private sealed record Result(Dictionary<string, double> Steps, double ProcessMs, double StockProcessMs, double ImagesPerSecond);

    /// <summary>Each round: every thread runs the steps on <paramref name="repeats"/> images; per-step medians over rounds.</summary>
    private static Result Measure(MLContext ml, string path, int repeats, int rounds, int threads)
    {
        using var readers = new PixelReaders(Side);
        using var stock = new StockEngines(ml);
        var perRound = new List<Dictionary<string, double>>();
        var process = new List<double>();
        var stockProcess = new List<double>();
        var rates = new List<double>();
        for (int round = -1; round < rounds; round++) // round -1 warms up (JIT, pools)
        {
            var sums = new Dictionary<string, double>[threads];
            RunThreads(threads, t => sums[t] = Steps(path, readers, repeats));
            var (cpu, wall) = Timed(() => RunThreads(threads, _ => { var planes = new float[3 * Side * Side]; for (int i = 0; i < repeats; i++) readers.TryRead(ImageSource.FromFile(path), planes); }));
            var (stockCpu, _) = Timed(() => RunThreads(threads, _ => { var planes = new float[3 * Side * Side]; for (int i = 0; i < repeats; i++) stock.Read(path, planes); }));
            if (round < 0) continue;
            perRound.Add(sums[0].Keys.ToDictionary(k => k, k => sums.Average(s => s[k]) / repeats));
            process.Add(cpu / (threads * repeats));
            stockProcess.Add(stockCpu / (threads * repeats));
            rates.Add(threads * repeats / wall);
        }
        return new Result(perRound[0].Keys.ToDictionary(k => k, k => Median(perRound.Select(r => r[k]))), Median(process), Median(stockProcess), Median(rates));
    }

    /// <summary>The steps of one image, <paramref name="repeats"/> times on this thread; summed thread CPU ms per step.</summary>
    private static Dictionary<string, double> Steps(string path, PixelReaders readers, int repeats)
    {
        var sums = new Dictionary<string, double>();
        var batch = new float[8 * 3 * Side * Side]; // the featurizer's batch buffer; the planes go to slot 3
        var slot = batch.AsSpan(3 * 3 * Side * Side, 3 * Side * Side);
        using var planes = new StockPlanes(Side);
        for (int i = 0; i < repeats; i++)
        {
            double t = ThreadCpuMs();
            void Lap(string step) { double now = ThreadCpuMs(); sums[step] = sums.GetValueOrDefault(step) + now - t; t = now; }
            var bytes = ImageBuffers.ReadFile(path, out int length, out _)!;
            Lap("read (whole file into a pooled array)");
            var handle = GCHandle.Alloc(bytes, GCHandleType.Pinned);
            using (var data = SKData.Create(handle.AddrOfPinnedObject(), length))
            using (var codec = SKCodec.Create(new SKMemoryStream(data), out _))
            {
                var size = ImageDecoder.ScaledSize(codec, Side);
                var origin = codec.EncodedOrigin;
                Lap("header (codec, size, EXIF orientation)");
                var info = new SKImageInfo(size.Width, size.Height, SKColorType.Bgra8888, SKAlphaType.Opaque);
                var pixels = ImageBuffers.Pool.Rent(info.BytesSize);
                ImageBuffers.Pinned(pixels, address => codec.GetPixels(info, address));
                Lap("decode (GetPixels, DCT-scaled)");
                var turned = ImageBuffers.Pool.Rent(info.BytesSize);
                ImageDecoder.Orient(pixels.AsSpan(0, info.BytesSize), size.Width, size.Height, SKEncodedOrigin.RightTop, turned);
                Lap("orient (as an EXIF-6 photo needs; not above)");
                ImageBuffers.Pool.Return(turned);
                planes.Resize(pixels, size.Width, size.Height, rgba: false);
                Lap("resize (stock iso-crop draw, kept bitmap)");
                StockPlanes.Extract(planes.Resized, rgba: false, slot);
                Lap("planes (into the batch buffer: no copy)");
                ImageBuffers.Pool.Return(pixels);
            }
            handle.Free();
            ImageBuffers.Pool.Return(bytes);
            t = ThreadCpuMs();
            readers.TryRead(ImageSource.FromFile(path), slot);
            Lap(EndToEnd);
        }
        return sums;
    }

    /// <summary>The path the featurizer ran before: decoder over a FileStream, MLImage, the stock engine, copy into the batch.</summary>
    private sealed class StockEngines(MLContext ml) : IDisposable
    {
        private readonly ITransformer _model = ImagePreparation.Estimators(ml, nameof(ImageRow.Image), inputIsPath: false, Side)
            .Fit(ml.Data.LoadFromEnumerable(Array.Empty<ImageRow>()));
        private readonly ThreadLocal<PredictionEngine<ImageRow, PixelsRow>?> _engines = new(trackAllValues: true);
        private readonly ThreadLocal<PixelsRow> _rows = new(() => new PixelsRow());

        public void Read(string path, Span<float> destination)
        {
            var engine = _engines.Value ??= ml.Model.CreatePredictionEngine<ImageRow, PixelsRow>(_model, new PredictionEngineOptions { OwnsTransformer = false });
            using var stream = File.OpenRead(path);
            var decoded = ImageDecoder.Decode(stream, Side);
            using var image = decoded.Image!;
            var row = _rows.Value!;
            engine.Predict(new ImageRow { Image = image }, ref row);
            row.Pixels.CopyTo(destination);
        }

        public void Dispose()
        {
            foreach (var engine in _engines.Values) engine?.Dispose();
            _engines.Dispose();
            _rows.Dispose();
        }
    }

    private static void RunThreads(int threads, Action<int> body)
    {
        var all = Enumerable.Range(0, threads).Select(t => new Thread(() => body(t))).ToList();
        all.ForEach(t => t.Start());
        all.ForEach(t => t.Join());
    }

    /// <summary>Process CPU ms and wall seconds of <paramref name="action"/>.</summary>
    private static (double CpuMs, double WallSeconds) Timed(Action action)
    {
        var process = Process.GetCurrentProcess();
        process.Refresh();
        var cpu = process.TotalProcessorTime;
        var clock = Stopwatch.StartNew();
        action();
        process.Refresh();
        return ((process.TotalProcessorTime - cpu).TotalMilliseconds, clock.Elapsed.TotalSeconds);
    }

    internal static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[sorted.Count / 2 - 1] + sorted[sorted.Count / 2]) / 2;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct TimeSpec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    [DllImport("libc", EntryPoint = "clock_gettime")]
    private static extern int ClockGetTime(int clock, out TimeSpec time);

    /// <summary>This thread's CPU time in ms (Linux CLOCK_THREAD_CPUTIME_ID).</summary>
    private static double ThreadCpuMs()
    {
        ClockGetTime(3, out var t);
        return t.Seconds * 1e3 + t.Nanoseconds / 1e6;
    }
}

using System.Diagnostics;
using System.Runtime.InteropServices;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetClassify.Images;
using SkiaSharp;

namespace MLNetClassify.Benchmarks;

/// <summary>
/// Where one photo's decoding time goes, stage by stage, on one thread: reading the file, the codec's header, the
/// DCT-scaled decode, orientation, the stock resize + pixel extraction. ... -- decodelab DIR [SIZE=224]
/// </summary>
internal static class DecodeLab
{
    public static int Run(string folder, int size)
    {
        var files = Directory.EnumerateFiles(folder, "*.jp*g", SearchOption.AllDirectories).Order(StringComparer.Ordinal).ToList();
        Console.WriteLine($"{files.Count} files, {files.Average(f => new FileInfo(f).Length) / 1e6:0.00} MB on average; {RuntimeInformation.OSArchitecture}, {Environment.ProcessorCount} cores");
        var ml = new MLContext(seed: 1);
        using var readers = new PixelReaders(ml, size);
        var planes = new float[3 * size * size];
        var stages = new Dictionary<string, double>();
        void Add(string name, Stopwatch s) { stages[name] = stages.GetValueOrDefault(name) + s.Elapsed.TotalMilliseconds; s.Restart(); }
        for (int round = 0; round < 3; round++)
        {
            stages.Clear();
            foreach (var file in files)
            {
                var s = Stopwatch.StartNew();
                var bytes = File.ReadAllBytes(file);
                Add("read file", s);
                using var stream = new MemoryStream(bytes, writable: false);
                using var codec = SKCodec.Create(stream);
                Add("codec header", s);
                var scaled = ImageDecoder.ScaledSize(codec, size);
                var info = new SKImageInfo(scaled.Width, scaled.Height, SKColorType.Bgra8888, SKAlphaType.Opaque);
                var buffer = new byte[info.BytesSize];
                var handle = GCHandle.Alloc(buffer, GCHandleType.Pinned);
                codec.GetPixels(info, handle.AddrOfPinnedObject());
                handle.Free();
                Add($"GetPixels at {scaled.Width}x{scaled.Height}", s);
                // As the decoder does: an upright file's pixels are used as they are.
                var upright = codec.EncodedOrigin == SKEncodedOrigin.TopLeft ? buffer : new byte[buffer.Length];
                var (w, h) = upright == buffer ? (scaled.Width, scaled.Height)
                    : ImageDecoder.Orient(buffer, scaled.Width, scaled.Height, codec.EncodedOrigin, upright);
                using var image = MLImage.CreateFromPixels(w, h, MLPixelFormat.Bgra32, upright);
                Add("orient + MLImage", s);
                readers.TryRead(ImageSource.FromImage(image, "x"), planes);
                Add("stock resize + extract", s);
                var decoded = ImageDecoder.Decode(file, size);
                decoded.Image!.Dispose();
                Add("ImageDecoder.Decode (all of it)", s);
                readers.TryRead(ImageSource.FromFile(file), planes);
                Add("PixelReaders.TryRead (file → planes)", s);
            }
        }
        foreach (var (name, ms) in stages)
            Console.WriteLine($"{name,-40} {ms / files.Count,8:0.00} ms/photo");
        return 0;
    }
}

/// <summary>One prediction's time split: decoding, and the model's steps after its loader. ... -- latencylab ZIP DIR</summary>
internal static class LatencyLab
{
    public static int Run(string zip, string folder)
    {
        var files = Directory.EnumerateFiles(folder, "*.jp*g", SearchOption.AllDirectories).Order(StringComparer.Ordinal).ToList();
        var ml = new MLContext(1);
        var model = MLNetClassify.Models.ModelFiles.Load(ml, zip, out var schema);
        MLNetClassify.Models.ModelWarmUp.Run(ml, model, schema);
        using var scorer = new MLNetClassify.Serving.DecodedImageScorer(ml, model, inputSchema: schema);
        var decodeTimes = new List<double>();
        var scoreTimes = new List<double>();
        var allTimes = new List<double>();
        for (int i = 0; i < 80; i++)
        {
            var file = files[i % files.Count];
            var s = Stopwatch.StartNew();
            var decoded = ImageDecoder.Decode(file, scorer.Side);
            decodeTimes.Add(s.Elapsed.TotalMilliseconds);
            s.Restart();
            scorer.Score(decoded.Image!);
            scoreTimes.Add(s.Elapsed.TotalMilliseconds);
            decoded.Image!.Dispose();
            s.Restart();
            scorer.Score(file);
            allTimes.Add(s.Elapsed.TotalMilliseconds);
        }
        static double Median(List<double> t) { var c = t.Skip(10).Order().ToList(); return c[c.Count / 2]; }
        Console.WriteLine($"decode {Median(decodeTimes):0.00} ms, model steps on the decoded image {Median(scoreTimes):0.00} ms, Score(path) {Median(allTimes):0.00} ms (medians of 70)");
        return 0;
    }
}

using System.Diagnostics;
using System.Text.Json;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.OnnxRuntime;
using MLNetClassify;
using MLNetClassify.Backbones;
using MLNetClassify.Data;
using MLNetClassify.Images;

// Featurization throughput, ours against ML.NET's documented path and raw ONNX Runtime, measured in one run
// on the same images: dotnet run -c Release --project tests/MLNetClassify.Benchmarks -- DIR [LIMIT]
// Accuracy against input size: ... -- sizes DIR SPLIT_FILE S1 S2 ...
if (args.Length >= 4 && args[0] == "sizes")
    return MLNetClassify.Benchmarks.InputSizes.Run(args[1], args[2], args[3..].Select(int.Parse).ToArray());
if (args.Length < 1 || !Directory.Exists(args[0]))
{
    Console.Error.WriteLine("usage: MLNetClassify.Benchmarks DATA_DIR [LIMIT]   (DATA_DIR: one sub-folder per label)");
    Console.Error.WriteLine("       MLNetClassify.Benchmarks sizes DATA_DIR SPLIT_FILE SIZE...");
    return 2;
}
int limit = args.Length > 1 ? int.Parse(args[1]) : 500;
var images = ImageDataset.FromFolder(args[0]);
// An even spread over labels, fixed order.
var sample = images.Select((img, i) => (img, i)).OrderBy(p => (p.i * 7919L) % images.Count).Take(limit).Select(p => p.img.ImagePath).ToList();
var ml = new MLContext(1);
Console.Error.WriteLine($"{sample.Count} images from {args[0]}, {Environment.ProcessorCount} cores");

// Warm-up of each path on a few images first, so one-off costs (session creation, JIT) stay out of the figures.
double Ours()
{
    using var featurizer = ml.ImageClassification().CreateFeaturizer();
    featurizer.Featurize(sample.Take(8).Select(ImageSource.FromFile).ToList());
    var result = featurizer.Featurize(sample.Select(ImageSource.FromFile).ToList());
    return result.ImagesPerSecond;
}

double MlNet()
{
    var data = ml.Data.LoadFromEnumerable(sample.Select(p => new LabeledImage(p, "")));
    var model = ml.Transforms.LoadImages("Image", null, "ImagePath")
        .Append(ml.Transforms.ResizeImages("Image", 224, 224))
        .Append(ml.Transforms.ExtractPixels("Pixels", "Image"))
        .Append(ml.Transforms.DnnFeaturizeImage("Features", m => m.ModelSelector.ResNet18(ml, m.OutputColumn, m.InputColumn), "Pixels"))
        .Fit(data);
    _ = model.Transform(ml.Data.TakeRows(data, 8)).GetColumn<float[]>("Features").Count();
    var clock = Stopwatch.StartNew();
    int n = model.Transform(data).GetColumn<float[]>("Features").Count();
    return n / clock.Elapsed.TotalSeconds;
}

double RawOrt()
{
    // The package's ResNet18.onnx alone, batch 1, random input: the ceiling with no image work at all.
    using var options = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL, IntraOpNumThreads = Environment.ProcessorCount };
    using var session = new InferenceSession(BackboneCatalog.ResNet18.ResolveModelFile(), options);
    var input = new float[3 * 224 * 224];
    using var value = OrtValue.CreateTensorValueFromMemory(input, [1, 3, 224, 224]);
    using var runOptions = new RunOptions();
    for (int i = 0; i < 4; i++) session.Run(runOptions, ["Input247"], [value], ["Pooling395_Output_0"]).Dispose();
    int runs = Math.Min(sample.Count, 200);
    var clock = Stopwatch.StartNew();
    for (int i = 0; i < runs; i++) session.Run(runOptions, ["Input247"], [value], ["Pooling395_Output_0"]).Dispose();
    return runs / clock.Elapsed.TotalSeconds;
}

double ours = Ours(), peer = MlNet(), raw = RawOrt();
Console.WriteLine($"ours featurize     {ours,8:F1} img/s");
Console.WriteLine($"ML.NET featurize   {peer,8:F1} img/s   (DnnFeaturizeImage ResNet18, row by row)");
Console.WriteLine($"raw ORT (batch 1)  {raw,8:F1} img/s   (ResNet18.onnx alone, no decoding)");
Console.WriteLine($"ratio ours/ML.NET  {ours / peer,8:F2}");
Console.WriteLine($"ratio ours/raw ORT {ours / raw,8:F2}");
Console.WriteLine(JsonSerializer.Serialize(new
{
    images = sample.Count,
    ours_featurize_images_per_s = ours,
    peer_featurize_images_per_s = peer,
    raw_ort_images_per_s = raw,
    featurize_ratio = ours / peer,
}));
return 0;

using System.Text.Json;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using MLNetClassify.Data;
using MLNetClassify.Tests.Cli;
using SkiaSharp;

namespace MLNetClassify.Tests.Persistence;

/// <summary>export: the whole classifier as one ONNX file, run here by ONNX Runtime alone.</summary>
[Collection(LogoModelCollection.Name)]
public class OnnxExportTests(LogoModelFixture fixture)
{
    /// <summary>The file's RGB pixels as uint8 [1, H, W, 3], decoded by SkiaSharp as any host's image library would.</summary>
    internal static DenseTensor<byte> Rgb(string path)
    {
        using var bitmap = SKBitmap.Decode(path).Copy(SKColorType.Rgba8888);
        var tensor = new DenseTensor<byte>([1, bitmap.Height, bitmap.Width, 3]);
        for (int y = 0; y < bitmap.Height; y++)
            for (int x = 0; x < bitmap.Width; x++)
            {
                var c = bitmap.GetPixel(x, y);
                tensor[0, y, x, 0] = c.Red;
                tensor[0, y, x, 1] = c.Green;
                tensor[0, y, x, 2] = c.Blue;
            }
        return tensor;
    }

    private static (float[] Probabilities, long Predicted) Run(InferenceSession session, string image)
    {
        using var outputs = session.Run([NamedOnnxValue.CreateFromTensor("image", Rgb(image))]);
        return (outputs.First(o => o.Name == "probabilities").AsTensor<float>().ToArray(), outputs.First(o => o.Name == "predicted_index").AsTensor<long>()[0]);
    }

    [Fact]
    public void Exported_LoadsWithOptimizationsOff_CarriesLabels_AndOnTheSamePixelsGivesTheModelsProbabilities()
    {
        var dir = TestPaths.NewTempDirectory();
        var onnx = Path.Combine(dir, "model.onnx");
        var run = CliRunner.Run(["export", "--model", fixture.ModelPath, "--onnx", onnx, "--json"]);
        Assert.True(run.ExitCode == 0, run.Stderr);
        var summary = JsonDocument.Parse(run.StdoutLines[^1]).RootElement;
        Assert.Equal(["logo", "other"], summary.GetProperty("classes").EnumerateArray().Select(e => e.GetString()));
        // Weights as compact as the zip's: the export is the zip's own featurizer graph (float16 storage) plus a few KB.
        var graph = MLNetClassify.Persistence.ModelFiles.ReadFeaturizerGraph(fixture.ModelPath)!.Graph;
        Assert.InRange(new FileInfo(onnx).Length, graph.Length, graph.Length + 100_000);

        // The ONNX checker's part: ONNX Runtime builds a session with every optimization off.
        using var options = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_DISABLE_ALL };
        using var session = new InferenceSession(onnx, options);
        var labels = JsonSerializer.Deserialize<string[]>(session.ModelMetadata.CustomMetadataMap["labels"]);
        Assert.Equal(["logo", "other"], labels!);
        Assert.Contains("uint8", session.ModelMetadata.CustomMetadataMap["input_contract"]);
        Assert.Contains("resnet18", session.ModelMetadata.CustomMetadataMap["provenance"]);

        // The fixture's images are 224×224: the same pixels the ML.NET model sees, so the same probabilities.
        var ml = new MLContext(1);
        var loaded = ml.Model.Load(fixture.ModelPath, out _);
        using var engine = ml.Model.CreatePredictionEngine<LabeledImage, ScoredImage>(loaded, new PredictionEngineOptions { OwnsTransformer = false });
        foreach (var image in fixture.Split.Test)
        {
            var expected = engine.Predict(image).Score;
            var (probabilities, predicted) = Run(session, image.ImagePath);
            for (int c = 0; c < expected.Length; c++)
                Assert.True(Math.Abs(expected[c] - probabilities[c]) <= 1e-4, $"{image.ImagePath}: {expected[c]} vs {probabilities[c]}");
            Assert.Equal(Array.IndexOf(expected, expected.Max()), predicted);
        }
    }

    [Fact]
    public void InGraphResize_FromOriginalSizes_AgreesOnTop1WithTheModel()
    {
        var dir = TestPaths.NewTempDirectory();
        var onnx = Path.Combine(dir, "model.onnx");
        var ml = new MLContext(1);
        Assert.Equal(["logo", "other"], ml.ImageClassification().ExportOnnx(fixture.ModelPath, onnx));
        // A held-out set at another size and shape than training's 224×224: 320×240 photos-to-be.
        var originals = TestImages.LogoFolder(Path.Combine(dir, "square"), perClass: 50, seed: 91);
        var images = originals.Select(i =>
        {
            var path = Path.Combine(dir, Path.GetFileName(i.ImagePath));
            using var source = SKBitmap.Decode(i.ImagePath);
            using var wide = source.Resize(new SKImageInfo(320, 240), SKFilterQuality.High);
            File.WriteAllBytes(path, MLNetClassify.Tests.Images.TestPictures.Encode(wide, SKEncodedImageFormat.Jpeg, 92));
            return new LabeledImage(path, i.Label);
        }).ToList();

        var loaded = ml.Model.Load(fixture.ModelPath, out _);
        var scores = loaded.Transform(ImageDataset.ToDataView(ml, images)).GetColumn<float[]>("Score").ToList();
        using var session = new InferenceSession(onnx);
        int agree = images.Select((image, i) => Run(session, image.ImagePath).Predicted == Array.IndexOf(scores[i], scores[i].Max()) ? 1 : 0).Sum();
        Assert.True(agree >= 0.99 * images.Count, $"top-1 agrees on {agree} of {images.Count}");
    }
}

using System.Text.Json;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using MLNetClassify.Data;
using MLNetClassify.Tests.Cli;

namespace MLNetClassify.Tests.Persistence;

/// <summary>export: the whole classifier as one ONNX file, run here by ONNX Runtime alone.</summary>
[Collection(LogoModelCollection.Name)]
public class OnnxExportTests(LogoModelFixture fixture)
{
    private static (float[] Probabilities, long Predicted) Run(InferenceSession session, string image)
    {
        using var outputs = session.Run([NamedOnnxValue.CreateFromTensor("image", ExportAgreement.Rgb(image))]);
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
        var graph = MLNetClassify.Models.ModelFiles.ReadFeaturizerGraph(fixture.ModelPath)!.Graph;
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
}

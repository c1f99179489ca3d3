using Microsoft.ML;
using MLNetClassify.Data;
using MLNetClassify.Models;
using MLNetClassify.Export;
using MLNetClassify.Training;
using Xunit.Abstractions;

namespace MLNetClassify.Tests.Persistence;

/// <summary>
/// The exported model, resizing inside the graph from the original pixels, against <c>predict</c> on photos of several
/// sizes: top-1 on at least 99 % of them, probabilities within <see cref="Tolerance"/>, in ONNX Runtime here and in
/// onnxruntime-node.
/// </summary>
[Collection(LogoModelCollection.Name)]
public class OnnxExportAgreementTests(LogoModelFixture fixture, ITestOutputHelper output)
{
    /// <summary>Largest probability difference allowed: the resizes agree to about one grey level, not bit for bit.</summary>
    private const double Tolerance = 0.1;

    private static readonly object Gate = new();
    private static (string Onnx, IReadOnlyList<string> Photos, float[][] Expected)? generated;

    /// <summary>The fixture's model exported, photos of several sizes drawn from new Logo-vs-Other images, predict's scores.</summary>
    private (string Onnx, IReadOnlyList<string> Photos, float[][] Expected) GeneratedPhotos()
    {
        lock (Gate)
        {
            if (generated is { } done) return done;
            var dir = TestPaths.NewTempDirectory();
            // Square 448-pixel images drawn as photos of other sizes and shapes: cutting the centre (predict) and
            // stretching the whole photo to 224×224 see different parts of them.
            var originals = TestImages.LogoFolder(Path.Combine(dir, "square"), perClass: 12, seed: 91, size: 448);
            var photos = ExportAgreement.SeveralSizes(originals.Select(i => i.ImagePath), Path.Combine(dir, "photos"));
            var onnx = Path.Combine(dir, "model.onnx");
            OnnxExport.Export(new MLContext(1), fixture.ModelPath, onnx);
            generated = (onnx, photos, ExportAgreement.Predict(fixture.ModelPath, photos));
            return generated.Value;
        }
    }

    /// <summary>A flowers-200 model trained on its shared split, exported; all 200 photos, the 40 test ones, predict's scores.</summary>
    private static readonly Lazy<(string Onnx, IReadOnlyList<string> Photos, IReadOnlySet<string> Test, float[][] Expected)> Flowers = new(() =>
    {
        var data = Path.Combine(TestPaths.SharedData!, "flowers-200");
        var split = DataSplit.ReadFile(Path.Combine(TestPaths.SharedData!, "splits", "flowers-200.tsv"), data);
        var ml = new MLContext(1);
        var trained = ClassifierWorkflow.Train(ml, split);
        var dir = TestPaths.NewTempDirectory();
        var zip = Path.Combine(dir, "flowers.zip");
        ModelFiles.Save(ml, trained.Model, trained.InputSchema!, zip);
        var onnx = Path.Combine(dir, "flowers.onnx");
        OnnxExport.Export(ml, zip, onnx);
        var photos = split.Train.Concat(split.Test).Select(i => i.ImagePath).Order(StringComparer.Ordinal).ToList();
        return (onnx, photos, split.Test.Select(i => i.ImagePath).ToHashSet(), ExportAgreement.Predict(zip, photos));
    });

    /// <summary>
    /// Top-1 on at least 99 % of all photos; probabilities within <see cref="Tolerance"/> except for large PNGs, which
    /// predict decodes at full size while the graph reduces every large photo as the decoder reduces a JPEG (their
    /// figure is printed).
    /// </summary>
    private void AssertAgrees(string what, Agreement all)
    {
        var decodedAlike = all.Where(p => !p.EndsWith("_1000x750.png", StringComparison.Ordinal));
        output.WriteLine($"{what}: {all}");
        if (decodedAlike.Photos.Count < all.Photos.Count)
            output.WriteLine($"  without the large PNGs: {decodedAlike}");
        if (decodedAlike.Photos.Count < all.Photos.Count)
            output.WriteLine($"  large PNGs: {all.Where(p => p.EndsWith("_1000x750.png", StringComparison.Ordinal))}");
        Assert.True(all.Rate >= 0.99, $"{what}: {all}");
        Assert.True(decodedAlike.MaxProbabilityDifference <= Tolerance, $"{what}: {decodedAlike}");
    }

    [Fact]
    public void InGraphResize_PhotosOfSeveralSizes_AgreesWithPredict()
    {
        var (onnx, photos, expected) = GeneratedPhotos();
        AssertAgrees($"ONNX Runtime (C#), {photos.Count} generated photos", ExportAgreement.InOnnxRuntime(onnx, photos, expected));
    }

    [SkippableFact]
    public void InOnnxRuntimeNode_PhotosOfSeveralSizes_AgreesWithPredict()
    {
        var (node, whyNot) = ExportAgreement.NodeCheck();
        Skip.If(node is null, whyNot);
        var (onnx, photos, expected) = GeneratedPhotos();
        AssertAgrees($"onnxruntime-node, {photos.Count} generated photos", ExportAgreement.InNode(node!, onnx, photos, expected));
    }

    [SkippableFact]
    public void SharedPhotos_Flowers200_AgreeWithPredict_InOnnxRuntime()
    {
        TestPaths.RequireSharedData("flowers-200");
        var (onnx, photos, test, expected) = Flowers.Value;
        var agreement = ExportAgreement.InOnnxRuntime(onnx, photos, expected);
        AssertAgrees("ONNX Runtime (C#), flowers-200", agreement);
        AssertAgrees("ONNX Runtime (C#), flowers-200's 40 test photos", agreement.Where(test.Contains));
    }

    [SkippableFact]
    public void SharedPhotos_Flowers200_AgreeWithPredict_InOnnxRuntimeNode()
    {
        TestPaths.RequireSharedData("flowers-200");
        var (node, whyNot) = ExportAgreement.NodeCheck();
        Skip.If(node is null, whyNot);
        var (onnx, photos, test, expected) = Flowers.Value;
        var agreement = ExportAgreement.InNode(node!, onnx, photos, expected);
        AssertAgrees("onnxruntime-node, flowers-200", agreement);
        AssertAgrees("onnxruntime-node, flowers-200's 40 test photos", agreement.Where(test.Contains));
    }
}

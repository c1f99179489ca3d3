using Microsoft.ML;
using MLNetClassify.Data;
using MLNetClassify.Models;
using MLNetClassify.Explanations;
using MLNetClassify.Export;

namespace MLNetClassify.Testing;

/// <summary>
/// Every way the library opens a model zip, each run on one file: what the crafted-model test and the 1,000-zip lab
/// hold to "a clear error or a result, never anything else".
/// </summary>
internal static class ModelOpenings
{
    /// <summary>How one opening ended: "ok", "refused" (an error of the kinds the CLI answers with exit 2, naming the file), or "bug".</summary>
    public sealed record Outcome(string Opening, string Result, Exception? Error);

    /// <summary>The openings, by name: ML.NET's load and every reader of ours, as the CLI verbs and the pool use them.</summary>
    public static readonly (string Name, Action<string, string> Open)[] All =
    [
        ("Model.Load (evaluate, predict, info)", (zip, _) =>
        {
            var model = ModelFiles.Load(new MLContext(1), zip, out DataViewSchema _);
            (model as IDisposable)?.Dispose();
        }),
        ("pool (service)", (zip, image) =>
        {
            using var pool = new MLContext(1).ImageClassification().CreatePool(zip, maxEngines: 1);
            pool.Predict(image);
        }),
        ("head record / parts (retrain, export, explain)", (zip, _) => ClassifierModel.Read(new MLContext(1), zip, "test")),
        ("training record, image list, graph (info, retrain)", (zip, _) =>
        {
            ModelFiles.ReadTrainingRecord(zip);
            ModelFiles.ReadTrainedImages(zip);
            ModelFiles.ReadFeaturizerGraph(zip);
        }),
        ("export", (zip, _) =>
        {
            var onnx = zip + ".onnx";
            try { OnnxExport.Export(new MLContext(1), zip, onnx); }
            finally { File.Delete(onnx); }
        }),
        ("explain", (zip, image) =>
        {
            using var mapper = ClassActivationMapper.Open(new MLContext(1), zip);
            mapper.Explain([image], null);
        }),
    ];

    /// <summary>Runs every opening on <paramref name="zip"/> (scoring <paramref name="image"/> where an opening scores).</summary>
    public static List<Outcome> Run(string zip, string image, IEnumerable<(string Name, Action<string, string> Open)>? openings = null) =>
        (openings ?? All).Select(o =>
        {
            try
            {
                o.Open(zip, image);
                return new Outcome(o.Name, "ok", null);
            }
            catch (Exception e) when (IsClearRefusal(e, zip))
            {
                return new Outcome(o.Name, "refused", e);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                return new Outcome(o.Name, "bug", e);
            }
        }).ToList();

    /// <summary>A refusal the CLI answers with exit 2 and that names the file.</summary>
    public static bool IsClearRefusal(Exception e, string zip) =>
        e is InvalidDataException or FileNotFoundException or UnsuitableInputException && e.Message.Contains(zip, StringComparison.Ordinal);
}

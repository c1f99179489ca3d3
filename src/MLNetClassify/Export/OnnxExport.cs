using System.Text.Json;
using Google.Protobuf;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Trainers;
using MLNetClassify.Backbones;
using MLNetClassify.Data;
using MLNetClassify.Onnx;
using Onnx;
using MLNetClassify.Models;

namespace MLNetClassify.Export;

/// <summary>
/// A saved classifier as one ONNX file that any ONNX Runtime host runs without .NET: an RGB image tensor (uint8, NHWC,
/// any height and width) is resized inside the graph to the backbone's input as <c>predict</c> resizes it
/// (<see cref="OnnxExportResize"/>: centre crop of the shorter side, bilinear), then the zip's own featurizer
/// graph (its weights as compact as in the zip), then the head (Gemm with the ML.NET softmax layer's weights), softmax
/// and argmax. Outputs <c>probabilities</c> [N, classes] (float32) and <c>predicted_index</c> [N] (int64); the
/// class names, the input contract and the provenance are in the file's metadata.
/// </summary>
internal static class OnnxExport
{
    public const string InputName = "image", ProbabilitiesName = "probabilities", PredictedName = "predicted_index";

    /// <summary>What an export wrote.</summary>
    public sealed record Result(string Path, long Bytes, IReadOnlyList<string> Classes, int InputSize, long Opset);

    /// <exception cref="FileNotFoundException">No such model file.</exception>
    /// <exception cref="InvalidDataException">The zip is not a softmax head on an MLNetClassify featurizer graph (a pixel perceptron, other steps between); the message says which.</exception>
    public static Result Export(MLContext mlContext, string modelPath, string onnxPath)
    {
        var classifier = ClassifierModel.Read(mlContext, modelPath, "not exportable");
        var (saved, tail, classes) = (classifier.Trunk, classifier.Tail, classifier.Classes);
        int size = saved.InputSize, k = tail.Classes;

        var onnx = ModelProto.Parser.ParseFrom(saved.Graph);
        var g = onnx.Graph;
        const string P = "mlnc_export_";
        // A backbone's own value may bear one of the export's names (a graph whose input is called "image"): rename it.
        foreach (var name in new[] { InputName, ProbabilitiesName, PredictedName })
            RenameValue(g, name, $"{P}backbone_{name}");
        // Image in: uint8 N×H×W×3 → float N×3×H×W → the model's resize to N×3×S×S, the featurizer graph's input.
        g.Input.Remove(g.Input.Single(i => i.Name == FeaturizerGraph.InputName));
        g.Input.Insert(0, OnnxBuild.Tensor(InputName, TensorProto.Types.DataType.Uint8, "N", "H", "W", 3));
        long opset = OnnxExportOpset.Lift(onnx, OnnxExportResize.Opset, modelPath);
        OnnxExportResize.Insert(g, $"{P}nchw", FeaturizerGraph.InputName, size, $"{P}resize_");
        g.Node.Insert(0, OnnxBuild.Node("Transpose", [$"{P}float"], [$"{P}nchw"], OnnxBuild.Ints("perm", 0, 3, 1, 2)));
        g.Node.Insert(0, OnnxBuild.Node("Cast", [InputName], [$"{P}float"], OnnxBuild.Attr("to", (long)TensorProto.Types.DataType.Float)));

        // Features → logits = W·x + b → probabilities, predicted index.
        g.Output.Clear();
        g.Initializer.Add(OnnxBuild.Floats($"{P}w", [k, saved.Channels], tail.Weights));
        g.Initializer.Add(OnnxBuild.Floats($"{P}b", [k], tail.Bias));
        g.Node.Add(OnnxBuild.Node("Gemm", [FeaturizerGraph.OutputName, $"{P}w", $"{P}b"], [$"{P}logits"], OnnxBuild.Attr("transB", 1)));
        g.Node.Add(OnnxBuild.Node("Softmax", [$"{P}logits"], [ProbabilitiesName], OnnxBuild.Attr("axis", 1)));
        g.Node.Add(OnnxBuild.Node("ArgMax", [$"{P}logits"], [PredictedName], OnnxBuild.Attr("axis", 1), OnnxBuild.Attr("keepdims", 0)));
        g.Output.Add(OnnxBuild.Tensor(ProbabilitiesName, TensorProto.Types.DataType.Float, "N", k));
        g.Output.Add(OnnxBuild.Tensor(PredictedName, TensorProto.Types.DataType.Int64, "N"));
        g.Name = $"mlnetclassify_{saved.BackboneName}_classifier";

        onnx.MetadataProps.Clear();
        onnx.MetadataProps.Add(new StringStringEntryProto { Key = "labels", Value = JsonSerializer.Serialize(classes.ToArray()) });
        onnx.MetadataProps.Add(new StringStringEntryProto
        {
            Key = "input_contract",
            Value = $"{InputName}: uint8 [N, H, W, 3] (NHWC), RGB, any H and W, upright (apply EXIF orientation first), all pixels as decoded at full size. "
                + $"Resized to S = {size} inside the graph as the model's predict does: " + OnnxExportResize.Description + ". "
                + $"Outputs: {ProbabilitiesName} float32 [N, {k}] in the order of 'labels'; {PredictedName} int64 [N].",
        });
        onnx.MetadataProps.Add(new StringStringEntryProto
        {
            Key = "provenance",
            Value = JsonSerializer.Serialize(new Dictionary<string, string>
            {
                ["exported_from"] = Path.GetFileName(modelPath),
                ["model_sha256"] = ContentHash.Of(modelPath),
                ["backbone"] = saved.BackboneName,
                ["input_size"] = size.ToString(System.Globalization.CultureInfo.InvariantCulture),
                ["library"] = $"MLNetClassify {typeof(OnnxExport).Assembly.GetName().Version}",
                ["exported_utc"] = DateTime.UtcNow.ToString("yyyy-MM-ddTHH:mm:ssZ", System.Globalization.CultureInfo.InvariantCulture),
            }),
        });
        onnx.ProducerName = "MLNetClassify";
        var bytes = onnx.ToByteArray();
        AtomicFile.Write(onnxPath, s => s.Write(bytes));
        return new Result(Path.GetFullPath(onnxPath), bytes.Length, classes, size, opset);
    }

    /// <summary>Renames the value <paramref name="from"/> wherever the graph names it (node inputs and outputs, initializers, value info).</summary>
    private static void RenameValue(GraphProto g, string from, string to)
    {
        foreach (var node in g.Node)
        {
            for (int i = 0; i < node.Input.Count; i++) if (node.Input[i] == from) node.Input[i] = to;
            for (int i = 0; i < node.Output.Count; i++) if (node.Output[i] == from) node.Output[i] = to;
        }
        foreach (var t in g.Initializer.Where(t => t.Name == from)) t.Name = to;
        foreach (var v in g.ValueInfo.Where(v => v.Name == from)) v.Name = to;
    }
}

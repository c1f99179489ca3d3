using System.CommandLine;
using Microsoft.ML;
using MLNetClassify.Persistence;

namespace MLNetClassify.Cli.Commands;

/// <summary><c>export</c>: a saved model as one ONNX file for any ONNX Runtime host.</summary>
internal static class ExportCommand
{
    /// <summary>The JSON line of <c>export --json</c>.</summary>
    internal sealed record Summary(string Onnx, long Bytes, IReadOnlyList<string> Classes, int InputSize, long Opset, string Input, IReadOnlyList<string> Outputs);

    public static Command Create()
    {
        var model = CommonOptions.Model("The model zip to export.");
        var onnx = new Option<string>("--onnx") { Description = "The ONNX file to write (atomically).", Required = true };
        var json = CommonOptions.Json();
        var command = new Command("export", "Export a saved model as one ONNX file: uint8 RGB image in (any size), probabilities and the predicted index out.") { model, onnx, json };
        Verb.SetAction(command, (result, token) =>
        {
            var written = OnnxExport.Export(new MLContext(1), result.GetValue(model)!, result.GetValue(onnx)!);
            var summary = new Summary(written.Path, written.Bytes, written.Classes, written.InputSize, written.Opset,
                $"{OnnxExport.InputName}: uint8 [N, H, W, 3] RGB", [OnnxExport.ProbabilitiesName, OnnxExport.PredictedName]);
            if (result.GetValue(json)) Output.JsonLine(summary, CliJson.Default.ExportSummary);
            else Console.WriteLine($"{summary.Onnx}: {summary.Bytes / 1e6:F1} MB, classes {string.Join(", ", summary.Classes)}; input {summary.Input}, resized to {summary.InputSize} inside");
            return 0;
        });
        return command;
    }
}

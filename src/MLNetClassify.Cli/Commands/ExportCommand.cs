using System.CommandLine;
using Microsoft.ML;
using MLNetClassify.Models;
using MLNetClassify.Export;

namespace MLNetClassify.Cli.Commands;

/// <summary><c>export</c>: a saved model as one ONNX file for any ONNX Runtime host.</summary>
internal static class ExportCommand
{
    /// <summary>The JSON line of <c>export --json</c>.</summary>
    internal sealed record Summary(string? Onnx, long Bytes, IReadOnlyList<string> Classes, int InputSize, long Opset, string Input, IReadOnlyList<string> Outputs,
        string? ScoringZip = null);

    public static Command Create()
    {
        var model = CommonOptions.Model("The model zip to export.");
        var onnx = new Option<string?>("--onnx") { Description = "The ONNX file to write (atomically)." };
        var scoringZip = new Option<string?>("--scoring-zip")
        {
            Description = "Also (or instead) write an ML.NET zip with the scoring steps alone: its input is ImagePath only, no Label (atomically).",
        };
        var json = CommonOptions.Json();
        var command = new Command("export",
            "Export a saved model as one ONNX file (uint8 RGB image in, any size; probabilities and the predicted index out), "
            + "and/or as an ML.NET zip whose input is the image path alone.") { model, onnx, scoringZip, json };
        Verb.SetAction(command, (result, token) =>
        {
            string modelPath = result.GetValue(model)!;
            string? onnxPath = result.GetValue(onnx), scoringPath = result.GetValue(scoringZip);
            if (onnxPath is null && scoringPath is null)
                throw new ArgumentException("export needs --onnx FILE, --scoring-zip FILE, or both.");
            var mlContext = new MLContext(1);
            if (scoringPath is not null)
            {
                var loaded = ModelFiles.Load(mlContext, modelPath, out var schema);
                using (loaded as IDisposable)
                    mlContext.ImageClassification().SaveScoringModel(loaded, schema, scoringPath);
                if (!result.GetValue(json))
                    Console.WriteLine($"{Path.GetFullPath(scoringPath)}: the scoring steps of {modelPath}; input ImagePath alone");
            }
            if (onnxPath is null)
            {
                if (result.GetValue(json))
                    Output.JsonLine(new Summary(null, 0, [], 0, 0, "", [], Path.GetFullPath(scoringPath!)), CliJson.Default.ExportSummary);
                return 0;
            }
            var written = OnnxExport.Export(mlContext, modelPath, onnxPath);
            var summary = new Summary(written.Path, written.Bytes, written.Classes, written.InputSize, written.Opset,
                $"{OnnxExport.InputName}: uint8 [N, H, W, 3] RGB", [OnnxExport.ProbabilitiesName, OnnxExport.PredictedName],
                scoringPath is null ? null : Path.GetFullPath(scoringPath));
            if (result.GetValue(json)) Output.JsonLine(summary, CliJson.Default.ExportSummary);
            else Console.WriteLine($"{summary.Onnx}: {summary.Bytes / 1e6:F1} MB, classes {string.Join(", ", summary.Classes)}; input {summary.Input}, resized to {summary.InputSize} inside");
            return 0;
        });
        return command;
    }
}

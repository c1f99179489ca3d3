using System.CommandLine;
using Microsoft.ML;
using MLNetClassify.Cli.Reports;
using MLNetClassify.Explanations;

namespace MLNetClassify.Cli.Commands;

/// <summary><c>explain</c>: class activation maps of images from a saved model, as PNG overlays and numbers.</summary>
internal static class ExplainCommand
{
    /// <summary>One JSON line of <c>explain --json</c>: an image's map (rows of values), or why it has none.</summary>
    internal sealed record Line(
        string Path, string? Label = null, string? Predicted = null, float? Probability = null, IReadOnlyList<IReadOnlyList<float>>? Cam = null,
        float? Logit = null, float? Bias = null, string? Png = null, string? Error = null);

    public static Command Create()
    {
        var model = CommonOptions.Model("The model zip to explain.");
        var images = new Argument<string[]>("images") { Description = "Image files or folders (searched recursively).", Arity = ArgumentArity.OneOrMore };
        var output = new Option<string>("--out") { Description = "Folder for the PNG overlays (one NAME.cam.png per image).", Required = true };
        var label = new Option<string?>("--class") { Description = "Map the evidence for this class instead of each image's predicted one." };
        var json = CommonOptions.Json();
        var command = new Command("explain", "Class activation maps: where in each image the model finds the evidence for a class.") { model, images, output, label, json };
        Verb.SetAction(command, (result, token) => Run(result.GetValue(model)!, result.GetValue(images)!, result.GetValue(output)!, result.GetValue(label),
            result.GetValue(json), token));
        return command;
    }

    internal static int Run(string modelPath, IReadOnlyList<string> paths, string outDir, string? label, bool json, CancellationToken token)
    {
        var files = PredictCommand.Expand(paths);
        using var mapper = ClassActivationMapper.Open(new MLContext(1), modelPath);
        if (label is not null && !mapper.Classes.Contains(label))
            throw new ArgumentException($"--class '{label}' is not a class of {modelPath} ({string.Join(", ", mapper.Classes)}).");
        Directory.CreateDirectory(outDir);
        int explained = 0;
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var map in mapper.Explain(files, label, token))
        {
            if (map.Problem is { } problem)
            {
                Output.Warn($"skipped {map.Source}: {problem}");
                if (json) Output.JsonLine(new Line(map.Source, Error: problem), CliJson.Default.ExplainLine);
                continue;
            }
            var png = Path.Combine(outDir, UniqueName(names, Path.GetFileNameWithoutExtension(map.Source)) + ".cam.png");
            using (var overlay = Figures.Overlay(map.Source, map))
                Figures.Save(overlay, png);
            explained++;
            if (json)
                Output.JsonLine(new Line(map.Source, map.Label, map.Predicted, map.Probability, Rows(map), map.Logit, map.Bias, png), CliJson.Default.ExplainLine);
            else
                Console.WriteLine($"{map.Source}\t{map.Label}\t{map.Probability:F4}\tpredicted {map.Predicted}\t{png}");
        }
        if (explained == 0)
            throw new ArgumentException($"No readable image among {files.Count} file(s).");
        return 0;
    }

    /// <summary>The map as rows (Height lists of Width values).</summary>
    internal static IReadOnlyList<IReadOnlyList<float>> Rows(ClassActivationMap map) =>
        Enumerable.Range(0, map.Height).Select(y => (IReadOnlyList<float>)map.Values.Skip(y * map.Width).Take(map.Width).ToArray()).ToList();

    /// <summary>A file name not used yet in this run: two images named alike in different folders get NAME and NAME-2.</summary>
    internal static string UniqueName(HashSet<string> used, string name)
    {
        var candidate = name;
        for (int n = 2; !used.Add(candidate); n++) candidate = $"{name}-{n}";
        return candidate;
    }
}

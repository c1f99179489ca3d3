using System.CommandLine;
using System.Text.Json.Serialization;
using MLNetClassify.Backbones;

namespace MLNetClassify.Cli.Commands;

/// <summary><c>backbones</c>: the catalogue; <c>backbones inspect FILE</c>: what MLNetClassify finds in an ONNX file.</summary>
internal static class BackbonesCommand
{
    public static Option<string> BackboneOption() => new("--backbone")
    {
        Description = "A catalogue name (see 'backbones'; default the embedded resnet18) or an image-classifier ONNX file.",
        DefaultValueFactory = _ => "resnet18",
    };

    public static Option<string?> FeatureNodeOption() => new("--feature-node")
    {
        Description = "With an ONNX file: cut at this node output instead of the detected feature map.",
    };

    /// <summary>One catalogue row of <c>backbones --json</c>.</summary>
    internal sealed record Row(string Name, int InputSize, float Crop, string Order, float Scale, int Channels, bool Embedded, string File, string? Licence);

    /// <summary>
    /// The JSON line of <c>backbones inspect --json</c>; "preset" and "prefix_tokens" are written even when null. A
    /// transformer's token sequence has feature_layout "NTC", its patch grid as feature_shape and the tokens before the
    /// grid as prefix_tokens (null for a map).
    /// </summary>
    internal sealed record Inspection(
        InputInfo Input, string Layout, string FeatureNode, IReadOnlyList<int> FeatureShape, string FeatureLayout, int InputSize, bool AnyInputSize,
        [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] string? Preset,
        [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] int? PrefixTokens);

    /// <summary>The image input of an inspected graph.</summary>
    internal sealed record InputInfo(string Name, IReadOnlyList<long> Shape);

    public static Command Create()
    {
        var json = CommonOptions.Json();
        var file = new Argument<string>("file") { Description = "An image-classifier ONNX file." };
        var preset = new Option<string?>("--preset") { Description = "Catalogue preset whose preprocessing applies (default: matched from the file name)." };
        var featureNode = FeatureNodeOption();
        var inspectJson = CommonOptions.Json();
        var inspect = new Command("inspect", "Show the inputs, the detected feature map and its shape, and the matched preset of an ONNX file.")
        {
            file, preset, featureNode, inspectJson,
        };
        Verb.SetAction(inspect, (result, _) => Inspect(result.GetValue(file)!, result.GetValue(preset), result.GetValue(featureNode), result.GetValue(inspectJson)));
        var command = new Command("backbones", "List the backbone catalogue: the embedded ResNet18, and presets for ONNX files you bring.") { json, inspect };
        Verb.SetAction(command, (result, _) => List(result.GetValue(json)));
        return command;
    }

    /// <summary>The backbone a --backbone value names: an ONNX file, or a catalogue entry (presets need their file beside the app).</summary>
    /// <exception cref="ArgumentException">Unknown name, or a preset whose file is missing.</exception>
    public static BackboneSpec Resolve(string value, string? featureNode, int? inputSize)
    {
        BackboneSpec spec;
        if (File.Exists(value))
        {
            spec = Backbone.FromOnnx(value, featureNode: featureNode);
        }
        else
        {
            if (value.EndsWith(".onnx", StringComparison.OrdinalIgnoreCase))
                throw new ArgumentException($"--backbone {value}: file not found.");
            var preset = BackboneCatalog.Get(value);
            if (preset.Embedded)
            {
                if (inputSize is { } s && s < 32)
                    throw new ArgumentException($"--input-size {s} is too small: ResNet18 needs at least 32 pixels (64 or more recommended).");
                return inputSize is { } size ? BackboneCatalog.ResNet18AtSize(size) : preset;
            }
            if (!File.Exists(preset.ResolveModelFile()))
                throw new ArgumentException($"Backbone '{preset.Name}' needs its ONNX file ({preset.Source}): pass --backbone PATH/{preset.ModelFile}, or put the file at {preset.ResolveModelFile()}.");
            spec = Backbone.FromOnnx(preset.ResolveModelFile(), preset, featureNode);
        }
        if (inputSize is { } requested && requested != spec.InputSize)
        {
            if (!spec.AnyInputSize)
                throw new ArgumentException($"Backbone '{spec.Name}' runs at {spec.InputSize}×{spec.InputSize} only.");
            spec = spec with { Name = $"{spec.Name}@{requested}", InputSize = requested };
        }
        return spec;
    }

    private static int List(bool json)
    {
        var rows = BackboneCatalog.All.Select(b => new Row(b.Name, b.InputSize, b.CropFraction, b.Order.ToString().ToUpperInvariant(), b.PixelScale,
            b.Channels, b.Embedded, b.Embedded ? "embedded" : File.Exists(b.ResolveModelFile()) ? b.ResolveModelFile() : $"needs {b.ModelFile}", b.Licence)).ToList();
        if (json)
        {
            Output.JsonLine(rows, CliJson.Default.BackboneRows);
            return 0;
        }
        Console.WriteLine($"{"name",-28} {"input",5} {"crop",5} {"order",5} {"scale",7} {"features",8}  file");
        foreach (var r in rows)
            Console.WriteLine($"{r.Name,-28} {r.InputSize,5} {r.Crop,5:0.###} {r.Order,5} {r.Scale,7:0.####} {r.Channels,8}  {r.File}");
        return 0;
    }

    private static int Inspect(string file, string? presetName, string? featureNode, bool json)
    {
        if (!File.Exists(file))
            throw new ArgumentException($"ONNX file not found: {file}");
        var preset = presetName is null ? null : BackboneCatalog.Get(presetName);
        var found = Backbone.Inspect(file, preset, featureNode);
        string featureLayout = found.PrefixTokens is null ? found.FeatureLayout.ToString().ToUpperInvariant() : "NTC";
        if (json)
        {
            Output.JsonLine(new Inspection(new InputInfo(found.Input, found.InputShape), found.Layout.ToString().ToUpperInvariant(), found.FeatureNode,
                found.FeatureShape, featureLayout, found.InputSize, found.AnyInputSize, found.Preset, found.PrefixTokens), CliJson.Default.Inspection);
            return 0;
        }
        Console.WriteLine($"input         {found.Input} [{string.Join(",", found.InputShape.Select(d => d > 0 ? d.ToString() : "?"))}] {found.Layout.ToString().ToUpperInvariant()}");
        Console.WriteLine($"feature node  {found.FeatureNode} ({featureLayout}{(found.PrefixTokens is int p ? $": {p} leading token(s), then the patch grid" : "")})");
        Console.WriteLine($"feature shape {string.Join("×", found.FeatureShape)} (C×H×W{(found.PrefixTokens is null ? "" : " of the patch grid")} at {found.InputSize}×{found.InputSize}){(found.AnyInputSize ? ", any input size" : "")}");
        Console.WriteLine($"preset        {found.Preset ?? "none matched (ImageNet RGB mean/std unless --preset)"}");
        return 0;
    }
}

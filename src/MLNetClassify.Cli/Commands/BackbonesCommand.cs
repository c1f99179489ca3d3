using System.CommandLine;
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
        inspect.SetAction((result, _) => Task.FromResult(CommonOptions.Guard(() =>
            Inspect(result.GetValue(file)!, result.GetValue(preset), result.GetValue(featureNode), result.GetValue(inspectJson)))));
        var command = new Command("backbones", "List the backbone catalogue: the embedded ResNet18, and presets for ONNX files you bring.") { json, inspect };
        command.SetAction((result, _) => Task.FromResult(CommonOptions.Guard(() => List(result.GetValue(json)))));
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
        var rows = BackboneCatalog.All.Select(b => new
        {
            name = b.Name,
            input_size = b.InputSize,
            crop = b.CropFraction,
            order = b.Order.ToString().ToUpperInvariant(),
            scale = b.PixelScale,
            channels = b.Channels,
            embedded = b.Embedded,
            file = b.Embedded ? "embedded" : File.Exists(b.ResolveModelFile()) ? b.ResolveModelFile() : $"needs {b.ModelFile}",
            licence = b.Licence,
        }).ToList();
        if (json)
        {
            Output.JsonLine(rows);
            return 0;
        }
        Console.WriteLine($"{"name",-28} {"input",5} {"crop",5} {"order",5} {"scale",7} {"features",8}  file");
        foreach (var r in rows)
            Console.WriteLine($"{r.name,-28} {r.input_size,5} {r.crop,5:0.###} {r.order,5} {r.scale,7:0.####} {r.channels,8}  {r.file}");
        return 0;
    }

    private static int Inspect(string file, string? presetName, string? featureNode, bool json)
    {
        if (!File.Exists(file))
            throw new ArgumentException($"ONNX file not found: {file}");
        var preset = presetName is null ? null : BackboneCatalog.Get(presetName);
        var found = Backbone.Inspect(file, preset, featureNode);
        if (json)
        {
            // A dictionary, so that "preset": null is written rather than left out.
            Output.JsonLine(new Dictionary<string, object?>
            {
                ["input"] = new { name = found.Input, shape = found.InputShape },
                ["layout"] = found.Layout.ToString().ToUpperInvariant(),
                ["feature_node"] = found.FeatureNode,
                ["feature_shape"] = found.FeatureShape,
                ["feature_layout"] = found.FeatureLayout.ToString().ToUpperInvariant(),
                ["input_size"] = found.InputSize,
                ["any_input_size"] = found.AnyInputSize,
                ["preset"] = found.Preset,
            });
            return 0;
        }
        Console.WriteLine($"input         {found.Input} [{string.Join(",", found.InputShape.Select(d => d > 0 ? d.ToString() : "?"))}] {found.Layout.ToString().ToUpperInvariant()}");
        Console.WriteLine($"feature node  {found.FeatureNode} ({found.FeatureLayout.ToString().ToUpperInvariant()})");
        Console.WriteLine($"feature shape {string.Join("×", found.FeatureShape)} (C×H×W at {found.InputSize}×{found.InputSize}){(found.AnyInputSize ? ", any input size" : "")}");
        Console.WriteLine($"preset        {found.Preset ?? "none matched (ImageNet RGB mean/std unless --preset)"}");
        return 0;
    }
}

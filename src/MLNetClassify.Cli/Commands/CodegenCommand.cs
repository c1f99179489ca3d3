using System.CommandLine;
using System.Reflection;
using System.Text.RegularExpressions;
using Microsoft.ML;
using MLNetClassify.Cli.Codegen;
using MLNetClassify.Models;
using MLNetClassify.Serving;

namespace MLNetClassify.Cli.Commands;

/// <summary><c>codegen</c>: Model Builder-style projects that consume a saved model with stock ML.NET.</summary>
internal static partial class CodegenCommand
{
    /// <summary>The JSON line of <c>codegen --json</c>.</summary>
    internal sealed record Summary(string Console, string? Web, string Name, IReadOnlyList<string> Classes, IReadOnlyList<string> Packages);

    public static Command Create()
    {
        var model = CommonOptions.Model("The model zip the projects will use (copied into them).");
        var output = new Option<string>("--out") { Description = "Folder to write the projects into (NAME/ and, with --web, NAME.Web/).", Required = true };
        var name = new Option<string?>("--name") { Description = "C# name of the projects, namespace and model class (default: from the model file's name)." };
        var web = new Option<bool>("--web")
        {
            Description = "Also write an ASP.NET Core web API project: POST /predict (multipart field 'image'), GET /health and /ready, OpenAPI, "
                + "limits in appsettings.json, the model reloaded when model.zip is rewritten.",
        };
        var packageVersion = new Option<string?>("--package-version") { Description = $"The {ProjectTemplates.LibraryPackage} package version the projects reference (default: this tool's, {LibraryVersion})." };
        var packageSource = new Option<string?>("--package-source")
        {
            Description = $"A folder or feed the projects restore {ProjectTemplates.LibraryPackage} from besides the configured ones (e.g. where `dotnet pack src/MLNetClassify -o nupkg` put it).",
        };
        var json = CommonOptions.Json();
        var command = new Command("codegen",
            "Write a .NET console project (and with --web a web API) that scores with the model through the MLNetClassify package: images decoded as "
            + "training decoded them, a thread-safe pool of engines.")
        {
            model, output, name, web, packageVersion, packageSource, json,
        };
        Verb.SetAction(command, (result, token) => Run(result.GetValue(model)!, result.GetValue(output)!, result.GetValue(name), result.GetValue(web),
            result.GetValue(packageVersion) ?? LibraryVersion, result.GetValue(packageSource), result.GetValue(json)));
        return command;
    }

    /// <summary>The library version this tool ships with (the informational version without its source revision).</summary>
    internal static string LibraryVersion { get; } =
        (typeof(ImageClassifierPool).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0.1.0").Split('+')[0];

    private static int Run(string modelPath, string outputFolder, string? requestedName, bool web, string libraryVersion, string? packageSource, bool json)
    {
        var name = requestedName ?? NameFrom(modelPath);
        if (!Identifier().IsMatch(name))
            throw new ArgumentException($"--name '{name}' is not a C# identifier (letters, digits and _, not starting with a digit).");
        if (packageSource is not null && !packageSource.Contains("://", StringComparison.Ordinal))
        {
            packageSource = Path.GetFullPath(packageSource);
            if (!Directory.Exists(packageSource))
                throw new ArgumentException($"--package-source {packageSource}: no such folder.");
        }
        var mlContext = new MLContext(1);
        var model = ModelFiles.Load(mlContext, modelPath, out var inputSchema); // stock Model.Load: what the generated code will do
        IReadOnlyList<string> classes;
        byte[] scoringZip;
        using (model as IDisposable)
        {
            classes = ModelInfo.Classes(mlContext, model);
            // The projects get the scoring steps only: their input is the image alone.
            var (scoring, schema) = ModelFiles.ScoringOnly(model, inputSchema);
            using var buffer = new MemoryStream();
            mlContext.Model.Save(scoring, schema, buffer);
            scoringZip = buffer.ToArray();
        }
        var graph = ModelFiles.ReadFeaturizerGraph(modelPath);
        int inputSize = graph?.InputSize ?? 0;
        string consumption = ProjectTemplates.Consumption(name, classes, Path.GetFileName(modelPath), inputSize);

        var console = Write(outputFolder, name, scoringZip, new Dictionary<string, string>
        {
            [$"{name}.csproj"] = ProjectTemplates.Project(web: false, libraryVersion, packageSource),
            [$"{name}.consumption.cs"] = consumption,
            ["Program.cs"] = ProjectTemplates.ConsoleProgram(name),
        });
        string? webFolder = null;
        if (web)
        {
            var files = WebTemplates.Files(name);
            files[$"{name}.Web.csproj"] = ProjectTemplates.Project(web: true, libraryVersion, packageSource);
            files[$"{name}.consumption.cs"] = consumption;
            webFolder = Write(outputFolder, $"{name}.Web", scoringZip, files);
        }
        var packages = ProjectTemplates.PackagesFor(web, libraryVersion).Select(p => $"{p.Id} {p.Version}").ToList();
        var summary = new Summary(console, webFolder, name, classes, packages);
        if (json)
            Output.JsonLine(summary, CliJson.Default.CodegenSummary);
        else
        {
            Console.WriteLine($"console project: {console}   (dotnet run --project {console} -- IMAGE...)");
            if (webFolder is not null)
                Console.WriteLine($"web project:     {webFolder}   (dotnet run --project {webFolder}; POST /predict with a form field 'image'; limits in appsettings.json)");
            Console.WriteLine($"packages:        {string.Join(", ", packages)}");
        }
        return 0;
    }

    /// <summary>Writes one project into a fresh folder beside its final place, then moves it there: no half-written project is left.</summary>
    private static string Write(string outputFolder, string project, byte[] modelZip, Dictionary<string, string> files)
    {
        var destination = Path.GetFullPath(Path.Combine(outputFolder, project));
        if (Directory.Exists(destination) || File.Exists(destination))
            throw new ArgumentException($"{destination} exists already; choose another --out or --name, or remove it.");
        Directory.CreateDirectory(outputFolder);
        var staging = destination + $".tmp-{Environment.ProcessId}";
        Directory.CreateDirectory(staging);
        try
        {
            foreach (var (file, text) in files)
                File.WriteAllText(Path.Combine(staging, file), text);
            File.WriteAllBytes(Path.Combine(staging, ProjectTemplates.ModelFile), modelZip);
            Directory.Move(staging, destination);
        }
        catch
        {
            Directory.Delete(staging, recursive: true);
            throw;
        }
        return destination;
    }

    /// <summary>"logo-model.zip" → "LogoModel"; "Model" when nothing usable is left.</summary>
    internal static string NameFrom(string modelPath)
    {
        var parts = NonWord().Split(Path.GetFileNameWithoutExtension(modelPath)).Where(p => p.Length > 0)
            .Select(p => char.ToUpperInvariant(p[0]) + p[1..]);
        var name = string.Concat(parts);
        return name.Length == 0 || char.IsDigit(name[0]) ? "Model" + name : name;
    }

    [GeneratedRegex("^[A-Za-z_][A-Za-z0-9_]*$")]
    private static partial Regex Identifier();

    [GeneratedRegex("[^A-Za-z0-9]+")]
    private static partial Regex NonWord();
}

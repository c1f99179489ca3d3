using System.IO.Compression;
using System.Text.Json;
using MLNetClassify.Tests.Cli;

namespace MLNetClassify.Tests.Architecture;

/// <summary>The packages as a new user gets them: sizes, contents, the installed tool finding its backbone, a scoring app without it.</summary>
public class PackagingTests
{
    private static readonly Dictionary<string, string> Quiet = new() { ["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1", ["DOTNET_NOLOGO"] = "1" };

    /// <summary>
    /// A version of this run's own: the NuGet package folder keeps the first package of each version it extracts, so
    /// under a fixed version the tool and the app below would run whatever an earlier run packed.
    /// </summary>
    private static readonly string Version = $"0.1.0-test.{DateTime.UtcNow:yyyyMMddHHmmss}.{Environment.ProcessId}";

    private static string Pack(string project, string output)
    {
        var run = CliRunner.Process("dotnet", ["pack", Path.Combine(TestPaths.RepoRoot, "src", project), "-c", "Release", $"-p:Version={Version}", "-o", output],
            TestPaths.RepoRoot, Quiet);
        Assert.True(run.ExitCode == 0, $"dotnet pack {project}: exit {run.ExitCode}\n{run.Stdout}\n{run.Stderr}");
        return Directory.GetFiles(output, "*.nupkg").Single();
    }

    /// <summary>A console app project in <paramref name="folder"/>: net10.0, nullable, with these extra properties and items.</summary>
    private static void WriteApp(string folder, string name, string properties, string items) =>
        File.WriteAllText(Path.Combine(folder, name + ".csproj"), $"""
            <Project Sdk="Microsoft.NET.Sdk">
              <PropertyGroup>
                <OutputType>Exe</OutputType>
                <TargetFramework>net10.0</TargetFramework>
                <ImplicitUsings>enable</ImplicitUsings>
                <Nullable>enable</Nullable>
                {properties}
              </PropertyGroup>
              <ItemGroup>
                {items}
              </ItemGroup>
            </Project>
            """);

    [Fact]
    public void Packages_ToolUnder150MB_OneBackboneCopy_NoMobileRuntimes_LibraryWithoutTheBackbone_TheInstalledToolRuns_AndAScoringAppCarriesNoBackbone()
    {
        var dir = TestPaths.NewTempDirectory();
        var tool = Pack("MLNetClassify.Cli", Path.Combine(dir, "tool"));
        var library = Pack("MLNetClassify", Path.Combine(dir, "library"));

        Assert.True(new FileInfo(tool).Length < 150_000_000, $"tool package {new FileInfo(tool).Length / 1e6:F1} MB");
        using (var zip = ZipFile.OpenRead(tool))
        {
            var names = zip.Entries.Select(e => e.FullName).ToList();
            Assert.Single(names, n => n.EndsWith("ResNet18.onnx", StringComparison.Ordinal));
            Assert.Contains("tools/net10.0/any/DnnImageModels/ResNet18Onnx/ResNet18.onnx", names);
            Assert.DoesNotContain(names, n => n.Contains("/ios/") || n.Contains("/android/") || n.EndsWith(".dbg") || n.EndsWith(".dwarf"));
            Assert.Contains(names, n => n.EndsWith("linux-x64/native/libonnxruntime.so", StringComparison.Ordinal));
            Assert.Contains(names, n => n.EndsWith("win-x64/native/onnxruntime.dll", StringComparison.Ordinal));
        }
        // The library carries no backbone: an app gets it from the ResNet18 package it depends on.
        Assert.True(new FileInfo(library).Length < 1_000_000, $"library package {new FileInfo(library).Length / 1e6:F2} MB");
        using (var zip = ZipFile.OpenRead(library))
            Assert.DoesNotContain(zip.Entries, e => e.FullName.EndsWith(".onnx", StringComparison.Ordinal));

        // Installed as a user would, the tool finds its embedded backbone and trains.
        var toolPath = Path.Combine(dir, "installed");
        var install = CliRunner.Process("dotnet", ["tool", "install", "--tool-path", toolPath, "--add-source", Path.GetDirectoryName(tool)!, "--version", Version, "MLNetClassify.Cli"], dir, Quiet);
        Assert.True(install.ExitCode == 0, $"dotnet tool install: {install.Stdout}\n{install.Stderr}");
        var demo = CliRunner.Process(Path.Combine(toolPath, "mlnet-classify"), ["demo", "--dir", Path.Combine(dir, "demo"), "--images-per-class", "10", "--json"], dir,
            new Dictionary<string, string>(Quiet) { ["MLNETCLASSIFY_CACHE"] = Path.Combine(dir, "cache") });
        Assert.True(demo.ExitCode == 0, $"installed tool: exit {demo.ExitCode}\n{demo.Stderr}");
        Assert.True(JsonDocument.Parse(demo.StdoutLines[^1]).RootElement.TryGetProperty("accuracy", out _));

        // An app that only scores, referencing the packed library: no backbone files beside it, and it scores the zip.
        var app = Path.Combine(dir, "scorer");
        Directory.CreateDirectory(app);
        var version = Path.GetFileNameWithoutExtension(library)["MLNetClassify.".Length..];
        WriteApp(app, "Scorer",
            $"<RestoreAdditionalProjectSources>{Path.GetDirectoryName(library)}</RestoreAdditionalProjectSources><NoWarn>NU1603</NoWarn>",
            $"""<PackageReference Include="MLNetClassify" Version="{version}" />""");
        File.WriteAllText(Path.Combine(app, "Program.cs"), """
            using Microsoft.ML;
            using MLNetClassify;
            var ml = new MLContext(1);
            var model = ml.ImageClassification().LoadModel(args[0], out _);
            using var engine = ml.Model.CreatePredictionEngine<MLNetClassify.Data.LabeledImage, Output>(model);
            Console.WriteLine(engine.Predict(new MLNetClassify.Data.LabeledImage(args[1], "")).PredictedLabelValue);
            public sealed class Output { public string PredictedLabelValue { get; set; } = ""; }
            """);
        var logo = Directory.GetFiles(Path.Combine(dir, "demo", "logo-vs-other", "logo"))[0];
        var scored = CliRunner.Process("dotnet", ["run", "--", Path.Combine(dir, "demo", "logo-model.zip"), logo], app, Quiet);
        Assert.True(scored.ExitCode == 0, $"scoring app: exit {scored.ExitCode}\n{scored.Stdout}\n{scored.Stderr}");
        Assert.Contains(scored.StdoutLines[^1], new[] { "logo", "other" });
        Assert.False(Directory.Exists(Path.Combine(app, "bin", "Debug", "net10.0", "DnnImageModels")), "the scoring app's output carries the backbone files");
    }

    [Fact]
    public void ASingleFilePublishedApp_FindsTheEmbeddedBackboneBesideItself()
    {
        // A training app published as one file (framework-dependent): the backbone package's files land beside the
        // executable, where the library looks first. The NuGet package folder, the last place it looks, is hidden from it.
        var dir = TestPaths.NewTempDirectory();
        var app = Path.Combine(dir, "trainer");
        Directory.CreateDirectory(app);
        string rid = System.Runtime.InteropServices.RuntimeInformation.RuntimeIdentifier;
        WriteApp(app, "Trainer",
            $"<RuntimeIdentifier>{rid}</RuntimeIdentifier><SelfContained>false</SelfContained><PublishSingleFile>true</PublishSingleFile>",
            $"""
            <ProjectReference Include="{Path.Combine(TestPaths.RepoRoot, "src", "MLNetClassify", "MLNetClassify.csproj")}" />
            <PackageReference Include="Microsoft.ML.DnnImageFeaturizer.ResNet18" Version="0.23.1" />
            """);
        File.WriteAllText(Path.Combine(app, "Program.cs"), """
            using Microsoft.ML;
            using MLNetClassify;
            var ml = new MLContext(1);
            using var featurizer = ml.ImageClassification().CreateFeaturizer();
            var result = featurizer.Featurize([args[0]]);
            Console.WriteLine($"{result.Features.Rows} {result.Features.Dimensions}");
            """);
        var publish = Path.Combine(dir, "published");
        var run = CliRunner.Process("dotnet", ["publish", "-c", "Release", "-o", publish], app, Quiet);
        Assert.True(run.ExitCode == 0, $"dotnet publish: exit {run.ExitCode}\n{run.Stdout}\n{run.Stderr}");
        Assert.True(File.Exists(Path.Combine(publish, "Trainer")), "no single executable");
        Assert.False(File.Exists(Path.Combine(publish, "MLNetClassify.dll")), "the library was not bundled into the one file");
        Assert.True(File.Exists(Path.Combine(publish, "DnnImageModels", "ResNet18Onnx", "ResNet18.onnx")));

        var image = TestImages.LogoFolder(Path.Combine(dir, "images"), 1, seed: 2, size: 96)[0].ImagePath;
        var emptyPackages = Path.Combine(dir, "no-packages");
        Directory.CreateDirectory(emptyPackages);
        var trained = CliRunner.Process(Path.Combine(publish, "Trainer"), [image], dir,
            new Dictionary<string, string>(Quiet) { ["NUGET_PACKAGES"] = emptyPackages });
        Assert.True(trained.ExitCode == 0, $"single-file app: exit {trained.ExitCode}\n{trained.Stdout}\n{trained.Stderr}");
        Assert.Equal("1 512", trained.StdoutLines[^1]);
    }
}

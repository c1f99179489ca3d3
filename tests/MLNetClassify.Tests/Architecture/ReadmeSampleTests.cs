using System.Text.RegularExpressions;
using MLNetClassify.Tests.Cli;

namespace MLNetClassify.Tests.Architecture;

/// <summary>The README's app-code sample, taken from the README itself, builds and runs as a new user's console app.</summary>
public partial class ReadmeSampleTests
{
    /// <summary>The first C# block after the README's "## In app code" heading.</summary>
    internal static string Sample()
    {
        var readme = File.ReadAllText(Path.Combine(TestPaths.RepoRoot, "README.md"));
        int section = readme.IndexOf("\n## In app code", StringComparison.Ordinal);
        Assert.True(section >= 0, "README has no '## In app code' section");
        var block = CSharpBlock().Match(readme, section);
        Assert.True(block.Success, "no ```csharp block in the README's app-code section");
        return block.Groups["code"].Value;
    }

    [Fact]
    public void ReadmeAppCodeSample_BuildsAndRuns_AsWritten()
    {
        var dir = TestPaths.NewTempDirectory();
        TestImages.LogoFolder(Path.Combine(dir, "photos"), 15, seed: 21, size: 120);
        File.WriteAllBytes(Path.Combine(dir, "upload.jpg"), TestImages.Jpeg(seed: 99, withLogo: true, size: 200));
        File.WriteAllText(Path.Combine(dir, "Program.cs"), Sample());
        var library = Path.Combine(TestPaths.RepoRoot, "src", "MLNetClassify", "MLNetClassify.csproj");
        File.WriteAllText(Path.Combine(dir, "ReadmeSample.csproj"), $"""
            <Project Sdk="Microsoft.NET.Sdk">
              <PropertyGroup>
                <OutputType>Exe</OutputType>
                <TargetFramework>net10.0</TargetFramework>
                <Nullable>enable</Nullable>
                <ImplicitUsings>enable</ImplicitUsings>
                <TreatWarningsAsErrors>true</TreatWarningsAsErrors>
                <NoWarn>NU1603</NoWarn>
              </PropertyGroup>
              <ItemGroup>
                <ProjectReference Include="{library}" />
              </ItemGroup>
            </Project>
            """);

        var run = CliRunner.Process("dotnet", ["run", "--configuration", "Debug"], dir,
            new Dictionary<string, string> { ["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1", ["DOTNET_NOLOGO"] = "1" });
        Assert.True(run.ExitCode == 0, $"exit {run.ExitCode}\n{run.Stdout}\n{run.Stderr}");
        var lines = run.StdoutLines;
        var accuracy = lines.Single(l => l.StartsWith("accuracy ", StringComparison.Ordinal));
        Assert.Matches(@"^accuracy \d\.\d{3}, log-loss \d+\.\d{3}$", accuracy);
        Assert.Contains(lines, l => PredictionLine().IsMatch(l));
        Assert.True(File.Exists(Path.Combine(dir, "model.zip")));
    }

    [GeneratedRegex(@"```csharp\n(?<code>.*?)```", RegexOptions.Singleline)]
    private static partial Regex CSharpBlock();

    [GeneratedRegex(@"^(logo|other) \(\d+[.,]\d\s?%\)$")]
    private static partial Regex PredictionLine();
}

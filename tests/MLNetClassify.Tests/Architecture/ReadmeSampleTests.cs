using System.Diagnostics;
using System.Text.RegularExpressions;

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

        var run = Dotnet(dir, "run", "--configuration", "Debug");
        Assert.True(run.ExitCode == 0, $"exit {run.ExitCode}\n{run.Output}");
        var lines = run.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var accuracy = lines.Single(l => l.StartsWith("accuracy ", StringComparison.Ordinal));
        Assert.Matches(@"^accuracy \d\.\d{3}, log-loss \d+\.\d{3}$", accuracy);
        Assert.Contains(lines, l => PredictionLine().IsMatch(l));
        Assert.True(File.Exists(Path.Combine(dir, "model.zip")));
    }

    private static (int ExitCode, string Output) Dotnet(string directory, params string[] args)
    {
        var start = new ProcessStartInfo("dotnet") { WorkingDirectory = directory, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) start.ArgumentList.Add(a);
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_NOLOGO"] = "1";
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromMinutes(5)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"dotnet {string.Join(' ', args)} ran over 5 minutes.");
        }
        return (process.ExitCode, stdout.Result + stderr.Result);
    }

    [GeneratedRegex(@"```csharp\n(?<code>.*?)```", RegexOptions.Singleline)]
    private static partial Regex CSharpBlock();

    [GeneratedRegex(@"^(logo|other) \(\d+[.,]\d\s?%\)$")]
    private static partial Regex PredictionLine();
}

using System.Text.Json;

namespace MLNetClassify.Tests.Cli;

/// <summary>Progress on stderr: a live bar and epoch line on a terminal, plain occasional lines when redirected; stdout carries only results.</summary>
[Collection(LogoModelCollection.Name)]
public class ProgressTests(LogoModelFixture fixture)
{
    [Fact]
    public void Redirected_PlainLinesOnStderr_EveryTenthEpoch_StdoutOnlyJson()
    {
        var dir = TestPaths.NewTempDirectory();
        var run = CliRunner.Run(["train", "--data", fixture.DataDirectory, "--model", Path.Combine(dir, "m.zip"), "--no-cache", "--epochs", "20", "--json"]);
        Assert.True(run.ExitCode == 0, run.Stderr);
        Assert.Single(run.StdoutLines);
        JsonDocument.Parse(run.StdoutLines[0]);
        Assert.Contains("  featurizing: ", run.Stderr);
        Assert.Contains("img/s", run.Stderr);
        Assert.Contains("  epoch 10: loss ", run.Stderr);
        Assert.Contains("validation accuracy", run.Stderr);
        Assert.DoesNotContain("\u001b[", run.Stderr); // no terminal codes in a log
    }

    [SkippableFact]
    public void OnATerminal_ALiveProgressBar()
    {
        Skip.IfNot(File.Exists("/usr/bin/script"), "needs util-linux's script to give the CLI a terminal");
        var dir = TestPaths.NewTempDirectory();
        var log = Path.Combine(dir, "terminal.log");
        var command = string.Join(' ', new[] { "dotnet", Path.Combine(AppContext.BaseDirectory, "mlnet-classify.dll"), "train", "--data", fixture.DataDirectory,
            "--model", Path.Combine(dir, "m.zip"), "--no-cache", "--epochs", "20", "--json" }.Select(a => $"'{a}'"));
        var run = CliRunner.Process("/usr/bin/script", ["-qec", command, log], dir, new Dictionary<string, string> { ["TERM"] = "xterm-256color" });
        Assert.True(run.ExitCode == 0, File.Exists(log) ? File.ReadAllText(log) : run.Stderr);
        var screen = File.ReadAllText(log);
        Assert.Contains("\u001b[", screen);           // drawn with terminal codes
        Assert.Contains("img/s", screen);             // images per second on the bar
        Assert.Contains("100%", screen);              // the bar's percentage
        Assert.Contains(": loss ", screen);           // the live epoch line (its last state: the refit's epochs)
    }
}

/// <summary>ML.NET's temporary ONNX copies (30–60 MB a model) do not outlive a CLI run, nor a killed one's next run.</summary>
[Collection(LogoModelCollection.Name)]
public class TemporaryFileTests(LogoModelFixture fixture)
{
    [Fact]
    public void CliRuns_LeaveNothingInTheTemporaryFolder_AndAKilledRunsFolderGoesWithTheNextRun()
    {
        var temp = TestPaths.NewTempDirectory();
        var dll = Path.Combine(AppContext.BaseDirectory, "mlnet-classify.dll");
        var env = new Dictionary<string, string> { ["TMPDIR"] = temp, ["MLNETCLASSIFY_CACHE"] = CliRunner.TestCache };
        var model = Path.Combine(TestPaths.NewTempDirectory(), "m.zip");
        foreach (var args in new[]
        {
            new[] { "train", "--data", fixture.DataDirectory, "--model", model, "--epochs", "5" },
            ["predict", "--model", model, fixture.Split.Test[0].ImagePath],
            ["evaluate", "--model", model, "--data", fixture.DataDirectory],
        })
        {
            var run = CliRunner.Process("dotnet", [dll, .. args], temp, env);
            Assert.True(run.ExitCode == 0, run.Stderr);
            Assert.Empty(Ours(temp));
        }

        // A run killed mid-way leaves its folder (and ML.NET's copy in it); the next run removes it.
        var stale = Path.Combine(temp, "mlnet-classify.999999");
        Directory.CreateDirectory(stale);
        File.WriteAllBytes(Path.Combine(stale, "abcdefgh.ijk"), new byte[1000]);
        var next = CliRunner.Process("dotnet", [dll, "info", "--model", model], temp, env);
        Assert.True(next.ExitCode == 0, next.Stderr);
        Assert.Empty(Ours(temp));
    }

    /// <summary>What is left in the folder, but the dotnet host's own dot-files (its .ses session marker).</summary>
    private static IEnumerable<string> Ours(string folder) =>
        Directory.GetFileSystemEntries(folder).Where(e => !Path.GetFileName(e).StartsWith('.'));
}

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

using System.Diagnostics;

namespace MLNetClassify.Tests.Cli;

/// <summary>Runs the CLI in its own process, as a user would.</summary>
internal static class CliRunner
{
    public sealed record Result(int ExitCode, string Stdout, string Stderr)
    {
        public List<string> StdoutLines => Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToList();
    }

    /// <summary>One feature-cache folder for the CLI runs of this test run.</summary>
    public static string TestCache { get; } = Path.Combine(TestPaths.RunRoot, "feature-cache");

    public static Result Run(IEnumerable<string> args, string? workingDirectory = null)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = workingDirectory ?? AppContext.BaseDirectory,
        };
        // The CLI caches features by default under the user's cache folder; tests keep theirs apart.
        start.Environment["MLNETCLASSIFY_CACHE"] = TestCache;
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "mlnet-classify.dll"));
        foreach (var a in args) start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromMinutes(5)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"mlnet-classify {string.Join(' ', args)} ran over 5 minutes.");
        }
        return new Result(process.ExitCode, stdout.Result, stderr.Result);
    }
}

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

    public static Result Run(IEnumerable<string> args, string? workingDirectory = null) =>
        // The CLI caches features by default under the user's cache folder; tests keep theirs apart.
        Process("dotnet", [Path.Combine(AppContext.BaseDirectory, "mlnet-classify.dll"), .. args], workingDirectory ?? AppContext.BaseDirectory,
            new Dictionary<string, string> { ["MLNETCLASSIFY_CACHE"] = TestCache });

    /// <summary>Runs <paramref name="file"/> to its end (five minutes at most), collecting both streams.</summary>
    public static Result Process(string file, IEnumerable<string> args, string workingDirectory, IReadOnlyDictionary<string, string>? environment = null)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = workingDirectory };
        foreach (var (name, value) in environment ?? new Dictionary<string, string>()) start.Environment[name] = value;
        foreach (var a in args) start.ArgumentList.Add(a);
        using var process = System.Diagnostics.Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromMinutes(5)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} {string.Join(' ', args)} ran over 5 minutes.");
        }
        return new Result(process.ExitCode, stdout.Result, stderr.Result);
    }
}

using System.Text.Json;
using MLNetClassify.Tests.Cli;

namespace MLNetClassify.Tests.Architecture;

/// <summary>
/// The notebooks under notebooks-data/ run top to bottom headless (dotnet-repl, pinned in .config/dotnet-tools.json),
/// as a reader would run them from a clone: a failing cell fails the test. Skipped, saying why, where the tool is not
/// restored or the library's Debug build is missing.
/// </summary>
public class NotebookTests
{
    private static string Folder => Path.Combine(TestPaths.RepoRoot, "notebooks-data");

    private static string[] Names { get; } = [.. Directory.GetFiles(Path.Combine(TestPaths.RepoRoot, "notebooks-data"), "*.ipynb").Select(f => Path.GetFileName(f)).Order()];

    public static TheoryData<string> Notebooks { get; } = [.. Names];

    private static string? WhyNot()
    {
        foreach (var built in new[] { "src/MLNetClassify/bin/Debug/net10.0/MLNetClassify.dll", "src/MLNetClassify.Cli/bin/Debug/net10.0/mlnet-classify.dll" })
            if (!File.Exists(Path.Combine(TestPaths.RepoRoot, built)))
                return $"the notebooks reference the Debug build ({built}); run dotnet build first.";
        var probe = CliRunner.Process("dotnet", ["tool", "run", "dotnet-repl", "--version"], TestPaths.RepoRoot);
        return probe.ExitCode == 0 ? null : "dotnet-repl is not restored here: run dotnet tool restore (.ci/run does).";
    }

    private static CliRunner.Result Run(string notebook, string output, string workingDirectory) =>
        CliRunner.Process("dotnet", ["tool", "run", "dotnet-repl", "--run", notebook, "--exit-after-run", "--output-format", "ipynb", "--output-path", output], workingDirectory);

    /// <summary>Each code cell's error outputs, as "cell N: name: value".</summary>
    private static List<string> Errors(string notebook)
    {
        using var document = JsonDocument.Parse(File.ReadAllText(notebook));
        return document.RootElement.GetProperty("cells").EnumerateArray().Select((cell, i) => (cell, i))
            .Where(c => c.cell.GetProperty("cell_type").GetString() == "code")
            .SelectMany(c => c.cell.GetProperty("outputs").EnumerateArray()
                .Where(o => o.GetProperty("output_type").GetString() == "error")
                .Select(o => $"cell {c.i}: {o.GetProperty("ename").GetString()}: {o.GetProperty("evalue").GetString()}"))
            .ToList();
    }

    [SkippableTheory]
    [MemberData(nameof(Notebooks))]
    public void Notebook_RunsTopToBottom_WithoutAFailingCell(string name)
    {
        var why = WhyNot();
        Skip.If(why is not null, why);
        var output = Path.Combine(TestPaths.NewTempDirectory(), name);
        // In the notebook's own folder, as an editor runs it: its relative paths start there.
        var run = Run(Path.Combine(Folder, name), output, Folder);
        Assert.True(File.Exists(output), $"no executed notebook written: {run.Stdout}{run.Stderr}");
        Assert.Empty(Errors(output));
        Assert.True(run.ExitCode == 0, $"exit {run.ExitCode}: {run.Stderr}");
    }

    [Theory]
    [MemberData(nameof(Notebooks))]
    public void CommittedNotebook_CarriesTheOutputsOfARunWithoutErrors(string name)
    {
        var path = Path.Combine(Folder, name);
        Assert.Empty(Errors(path));
        using var document = JsonDocument.Parse(File.ReadAllText(path));
        var code = document.RootElement.GetProperty("cells").EnumerateArray().Where(c => c.GetProperty("cell_type").GetString() == "code").ToList();
        Assert.NotEmpty(code);
        // Every code cell but the setup one (which only references packages) shows a result.
        Assert.All(code.Skip(1), c => Assert.True(c.GetProperty("outputs").GetArrayLength() > 0, $"{name}: a code cell without output: {c.GetProperty("source")}"));
    }

    [SkippableFact]
    public void ANotebookWithAThrowingCell_FailsTheRun()
    {
        var why = WhyNot();
        Skip.If(why is not null, why);
        // A copy of the first notebook (plain C#, no relative paths) with one more cell that throws, then one that does not.
        var source = JsonDocument.Parse(File.ReadAllText(Path.Combine(Folder, Names[0]))).RootElement;
        var cells = source.GetProperty("cells").EnumerateArray().Select(c => JsonSerializer.Deserialize<Dictionary<string, object>>(c.GetRawText())!).ToList();
        Dictionary<string, object> Code(string text) => new()
        {
            ["cell_type"] = "code", ["execution_count"] = null!, ["metadata"] = new Dictionary<string, object>(), ["outputs"] = Array.Empty<object>(), ["source"] = new[] { text },
        };
        cells.Add(Code("throw new InvalidOperationException(\"deliberately broken\");"));
        cells.Add(Code("1 + 1"));
        var document = JsonSerializer.Deserialize<Dictionary<string, object>>(source.GetRawText())!;
        document["cells"] = cells;
        var dir = TestPaths.NewTempDirectory();
        var broken = Path.Combine(dir, "broken.ipynb");
        File.WriteAllText(broken, JsonSerializer.Serialize(document));

        var output = Path.Combine(dir, "broken-run.ipynb");
        var run = Run(broken, output, TestPaths.RepoRoot);
        Assert.Equal(2, run.ExitCode);
        Assert.Contains(Errors(output), e => e.Contains("deliberately broken"));
    }
}

using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;

namespace MLNetClassify.Tests.Cli;

/// <summary>What the codegen tests share: the library packed once into a local feed, building a generated project, running its service.</summary>
internal static class GeneratedProjects
{
    private static readonly Dictionary<string, string> Quiet = new() { ["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1", ["DOTNET_NOLOGO"] = "1" };

#if DEBUG
    private const string Configuration = "Debug";
#else
    private const string Configuration = "Release";
#endif

    private static readonly Lazy<(string Folder, string Version)> Feed = new(PackLibrary);

    /// <summary>
    /// The library as built for this test run, packed (no rebuild) into a local feed under a version of its own: the
    /// NuGet package folder keeps the first package of each version it sees, so a fixed version would go stale.
    /// </summary>
    public static (string Folder, string Version) LibraryFeed => Feed.Value;

    private static (string, string) PackLibrary()
    {
        var folder = Path.Combine(TestPaths.NewTempDirectory(), "feed");
        var version = $"0.1.0-test.{DateTime.UtcNow:yyyyMMddHHmmss}.{Environment.ProcessId}";
        var run = CliRunner.Process("dotnet", ["pack", Path.Combine(TestPaths.RepoRoot, "src", "MLNetClassify"), "-c", Configuration, "--no-build",
            $"-p:Version={version}", "-o", folder], TestPaths.RepoRoot, Quiet);
        Assert.True(run.ExitCode == 0, $"dotnet pack MLNetClassify: exit {run.ExitCode}\n{run.Stdout}\n{run.Stderr}");
        return (folder, version);
    }

    /// <summary>Runs <c>codegen</c> against the packed library; returns its JSON summary.</summary>
    public static JsonElement Generate(string model, string outputFolder, string name, bool web)
    {
        var (feed, version) = LibraryFeed;
        string[] args = ["codegen", "--model", model, "--out", outputFolder, "--name", name, "--package-version", version, "--package-source", feed, "--json"];
        var generated = CliRunner.Run(web ? [.. args, "--web"] : args);
        Assert.True(generated.ExitCode == 0, generated.Stderr);
        return JsonDocument.Parse(generated.StdoutLines[^1]).RootElement;
    }

    /// <summary>Builds a generated project: it must build with no warning (its projects treat warnings as errors too).</summary>
    public static void Build(string project)
    {
        var run = CliRunner.Process("dotnet", ["build", project, "-c", "Debug"], project, Quiet);
        Assert.True(run.ExitCode == 0, $"dotnet build {project}: exit {run.ExitCode}\n{run.Stdout}\n{run.Stderr}");
        Assert.Contains(" 0 Warning(s)", run.Stdout);
    }

    /// <summary>A free loopback port.</summary>
    public static int FreePort()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        return ((IPEndPoint)probe.LocalEndpoint).Port;
    }
}

/// <summary>A generated web service running on a loopback port, with its own temporary folder; stopped as a host stops it (SIGTERM).</summary>
internal sealed class ServiceProcess : IDisposable
{
    private readonly Process _process;

    public ServiceProcess(string project, string dll, string temporaryFolder, IReadOnlyDictionary<string, string>? environment = null)
    {
        Port = GeneratedProjects.FreePort();
        var start = new ProcessStartInfo("dotnet") { WorkingDirectory = project, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { Path.Combine(project, "bin", "Debug", "net10.0", dll), "--urls", $"http://127.0.0.1:{Port}" }) start.ArgumentList.Add(a);
        start.Environment["TMPDIR"] = temporaryFolder;
        start.Environment["ASPNETCORE_TEMP"] = temporaryFolder;
        start.Environment["DOTNET_EnableDiagnostics"] = "0"; // no debugger pipes in the temporary folder
        foreach (var (name, value) in environment ?? new Dictionary<string, string>()) start.Environment[name] = value;
        _process = Process.Start(start)!;
        _process.OutputDataReceived += (_, e) => { lock (Log) Log.Add(e.Data ?? ""); };
        _process.ErrorDataReceived += (_, e) => { lock (Log) Log.Add(e.Data ?? ""); };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        Http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{Port}"), Timeout = TimeSpan.FromSeconds(60) };
    }

    public int Port { get; }
    public HttpClient Http { get; }
    public List<string> Log { get; } = [];

    /// <summary>Polls <paramref name="path"/> until it answers 200 (60 s at most).</summary>
    public async Task WaitFor(string path)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (DateTime.UtcNow < deadline)
        {
            Assert.False(_process.HasExited, $"the service exited: {string.Join('\n', Log)}");
            try
            {
                if ((await Http.GetAsync(path)).StatusCode == HttpStatusCode.OK) return;
            }
            catch (HttpRequestException) { }
            await Task.Delay(200);
        }
        Assert.Fail($"{path} did not answer 200 within 60 s: {string.Join('\n', Log)}");
    }

    /// <summary>The process's peak resident memory so far, in bytes (Linux: VmHWM); null elsewhere.</summary>
    public long? PeakResidentBytes()
    {
        var status = $"/proc/{_process.Id}/status";
        if (!File.Exists(status)) return null;
        var line = File.ReadLines(status).First(l => l.StartsWith("VmHWM:", StringComparison.Ordinal));
        return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) * 1024;
    }

    /// <summary>Stops the service as a host does (SIGTERM, then its graceful shutdown); true when it exited by itself within 30 s.</summary>
    public bool Stop()
    {
        if (_process.HasExited) return true;
        using (var kill = Process.Start("kill", ["-TERM", _process.Id.ToString()])) kill.WaitForExit();
        return _process.WaitForExit(30_000);
    }

    public void Dispose()
    {
        Http.Dispose();
        if (!_process.HasExited) _process.Kill(entireProcessTree: true);
        _process.WaitForExit(10_000);
        _process.Dispose();
    }
}

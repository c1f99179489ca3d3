using MLNetClassify.Data;

namespace MLNetClassify.Cli;

/// <summary>
/// ML.NET writes a temporary copy of every ONNX graph it loads or fits (30–60 MB each, in the temporary folder) and
/// deletes it only when that model is disposed; a process that ends first leaves it behind, and many runs fill a disk.
/// The CLI points the temporary folder at one of its own, <c>mlnet-classify.PID</c>, removes it when it ends, and removes
/// those of earlier runs whose process no longer runs (killed ones).
/// </summary>
internal sealed class ScratchFolder : IDisposable
{
    private const string Prefix = "mlnet-classify.";

    private ScratchFolder(string path) => Path = path;

    /// <summary>The folder this process's temporary files go to.</summary>
    public string Path { get; }

    /// <summary>Creates this process's folder under the temporary folder and makes it the temporary folder.</summary>
    public static ScratchFolder Enter()
    {
        var parent = System.IO.Path.GetTempPath();
        try
        {
            foreach (var stale in Directory.EnumerateDirectories(parent, Prefix + "*"))
                if (int.TryParse(System.IO.Path.GetFileName(stale)[Prefix.Length..], out int pid) && pid != Environment.ProcessId && !AtomicFile.ProcessRuns(pid))
                    Delete(stale);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Another user's folders, or a temporary folder that cannot be listed: leave them.
        }
        var path = System.IO.Path.Combine(parent, Prefix + Environment.ProcessId);
        Directory.CreateDirectory(path);
        Environment.SetEnvironmentVariable("TMPDIR", path); // Path.GetTempPath() reads it on every call (Unix)
        AppDomain.CurrentDomain.ProcessExit += (_, _) => Delete(path);
        return new ScratchFolder(path);
    }

    public void Dispose() => Delete(Path);

    private static void Delete(string path)
    {
        try { Directory.Delete(path, recursive: true); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
    }
}

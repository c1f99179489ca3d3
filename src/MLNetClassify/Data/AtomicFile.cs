namespace MLNetClassify.Data;

/// <summary>Writes files so that readers see the old file or the complete new one, never a half-written one.</summary>
internal static class AtomicFile
{
    /// <summary>
    /// Calls <paramref name="write"/> on a temporary file beside <paramref name="path"/>, flushes it to disk,
    /// then renames it over <paramref name="path"/>. On failure or cancellation the temporary file is removed
    /// and any existing file is left as it was.
    /// </summary>
    /// <param name="path">The file to write.</param>
    /// <param name="write">Writes the content.</param>
    /// <param name="durable">
    /// Flush to the disk before the rename (survives power loss). Cache entries skip it: each is checked when read,
    /// and thousands of flushes would cost seconds.
    /// </param>
    public static void Write(string path, Action<Stream> write, bool durable = true)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        var temp = TempPath(full);
        try
        {
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None))
            {
                write(stream);
                stream.Flush(flushToDisk: durable);
            }
            File.Move(temp, full, overwrite: true);
        }
        catch
        {
            TryDelete(temp);
            throw;
        }
    }

    /// <summary>
    /// Fails now, naming <paramref name="path"/>, when it could not be written later: its folder cannot be created or
    /// a file cannot be made in it. Call it before long work whose result goes there (training, featurizing).
    /// Also removes temporary files a killed writer of <paramref name="path"/> left (those of processes that no
    /// longer run); returns how many.
    /// </summary>
    /// <exception cref="ArgumentException">The destination cannot be written; the message names it and says why.</exception>
    public static int PrepareDestination(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var full = Path.GetFullPath(path);
        var folder = Path.GetDirectoryName(full)!;
        var probe = TempPath(full);
        try
        {
            if (Directory.Exists(full))
                throw new IOException("it is a folder");
            Directory.CreateDirectory(folder);
            using (new FileStream(probe, FileMode.CreateNew, FileAccess.Write, FileShare.None)) { }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ArgumentException($"Cannot write {full}: {e.Message}", nameof(path), e);
        }
        finally
        {
            TryDelete(probe);
        }
        int removed = 0;
        foreach (var stale in Directory.EnumerateFiles(folder, $".{Path.GetFileName(full)}.*.tmp"))
        {
            var parts = Path.GetFileName(stale)[(Path.GetFileName(full).Length + 2)..].Split('.');
            if (parts.Length == 3 && int.TryParse(parts[0], out int pid) && pid != Environment.ProcessId && !ProcessRuns(pid))
            {
                TryDelete(stale);
                removed += File.Exists(stale) ? 0 : 1;
            }
        }
        return removed;
    }

    /// <summary>The temporary file a write of <paramref name="full"/> goes to: hidden, beside it, named by process and a GUID.</summary>
    private static string TempPath(string full) =>
        Path.Combine(Path.GetDirectoryName(full)!, $".{Path.GetFileName(full)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");

    /// <summary>Whether process <paramref name="pid"/> is running (its temporary files are then still being written).</summary>
    internal static bool ProcessRuns(int pid)
    {
        try
        {
            using var process = System.Diagnostics.Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }

    private static void TryDelete(string file)
    {
        try { File.Delete(file); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}

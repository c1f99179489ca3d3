using System.Runtime.InteropServices;

namespace MLNetClassify.Onnx;

/// <summary>
/// Hands memory that ONNX Runtime freed back to the operating system (glibc's <c>malloc_trim</c>). Building an int8
/// graph creates and drops a few dozen sessions; glibc keeps what they freed in per-thread arenas, so without this
/// the process's resident memory grows by each session's worth. A no-op off Linux or on a libc without it.
/// </summary>
internal static class NativeMemory
{
    private static bool _unavailable;

    public static void Trim()
    {
        if (_unavailable || !OperatingSystem.IsLinux()) return;
        try
        {
            _ = MallocTrim(0);
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            _unavailable = true;
        }
    }

    [DllImport("libc", EntryPoint = "malloc_trim")]
    private static extern int MallocTrim(nuint pad);
}

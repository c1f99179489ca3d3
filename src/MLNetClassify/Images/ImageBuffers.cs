using System.Buffers;
using System.Runtime.InteropServices;

namespace MLNetClassify.Images;

/// <summary>
/// The byte buffers of the image steps (file bytes, decoded pixels, turned pixels): one process-wide pool that keeps at
/// most <see cref="ArraysPerSize"/> arrays of each power-of-two size, whatever the number of threads that decode.
/// </summary>
/// <remarks>
/// <see cref="ArrayPool{T}.Shared"/> keeps arrays per thread and per core, so its retained memory grows with the worker
/// count (DOTNET_PROCESSOR_COUNT=16 on two cores keeps 16 cores' worth); a bounded pool keeps the retained memory the
/// same on any machine, and an array over the bound is left to the GC.
/// </remarks>
internal static class ImageBuffers
{
    /// <summary>Arrays kept per size class: the decoders of a few batches in flight, not one per core.</summary>
    public const int ArraysPerSize = 4;

    /// <summary>Largest array kept (64 MiB: a 4,000×4,000 PNG's pixels); bigger ones are allocated and dropped.</summary>
    public const int LargestKept = 64 << 20;

    public static ArrayPool<byte> Pool { get; } = ArrayPool<byte>.Create(LargestKept, ArraysPerSize);

    /// <summary>
    /// Reads the whole file at <paramref name="path"/> into an array rented from <see cref="Pool"/> (return it), with one
    /// read call into that array and no stream buffer between; null and the problem when it cannot.
    /// </summary>
    public static byte[]? ReadFile(string path, out int length, out string? problem)
    {
        length = 0;
        problem = null;
        if (!File.Exists(path))
        {
            problem = "file not found";
            return null;
        }
        using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        long size = RandomAccess.GetLength(handle);
        if (size == 0)
        {
            problem = "empty file (0 bytes)";
            return null;
        }
        if (size > Array.MaxLength)
        {
            problem = $"file of {size / 1e9:0.#} GB is too large to be an image read here";
            return null;
        }
        var bytes = Pool.Rent((int)size);
        while (length < size)
        {
            int read = RandomAccess.Read(handle, bytes.AsSpan(length, (int)size - length), length);
            if (read == 0) break; // the file shrank while read: the decoder reports what is missing
            length += read;
        }
        return bytes;
    }

    /// <summary>Runs <paramref name="use"/> with the address of <paramref name="array"/>, pinned meanwhile.</summary>
    public static T Pinned<T>(byte[] array, Func<IntPtr, T> use)
    {
        var handle = GCHandle.Alloc(array, GCHandleType.Pinned);
        try
        {
            return use(handle.AddrOfPinnedObject());
        }
        finally
        {
            handle.Free();
        }
    }
}

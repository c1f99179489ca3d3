using System.Buffers;
using System.Collections.Concurrent;
using System.IO.Compression;
using System.IO.Hashing;

namespace MLNetClassify.Models;

/// <summary>
/// A model zip checked before anything reads it: the zip's directory readable, each entry no larger than a model entry
/// can be and than its compressed bytes can expand to, and each entry's bytes those it was written with (its length
/// and CRC-32). ML.NET's loader trusts a zip's entries, and reading them unchecked ran into its exceptions on damaged
/// files; after this check a damaged file is refused with the entry named.
/// </summary>
/// <remarks>
/// Reading every entry once costs about as much as decompressing the zip (a ResNet18 model: ~45 MB). A file that
/// passed is remembered by path, length and write time, so the several readers of one command check it once.
/// </remarks>
internal static class ModelZip
{
    /// <summary>The most an entry may hold: a float32 graph of 250 million parameters.</summary>
    public const long MaxEntryBytes = 1L << 30;

    /// <summary>Deflate expands at most about 1032:1 (258 bytes from a 2-bit code, RFC 1951); more is a damaged or forged header.</summary>
    private const long MaxDeflateRatio = 1032;

    private static readonly ConcurrentDictionary<(string Path, long Length, DateTime Written), bool> Passed = new();

    /// <summary>Checks the zip at <paramref name="path"/> (which exists).</summary>
    /// <exception cref="InvalidDataException">It is not a zip, or an entry is damaged; the message names the file and the entry.</exception>
    public static void Verify(string path)
    {
        var file = new FileInfo(path);
        var key = (file.FullName, file.Length, file.LastWriteTimeUtc);
        if (Passed.ContainsKey(key))
            return;
        ZipArchive zip;
        try
        {
            zip = ZipFile.OpenRead(path);
        }
        catch (InvalidDataException e)
        {
            throw new InvalidDataException($"{path} is not a model zip: {e.Message}", e);
        }
        var buffer = ArrayPool<byte>.Shared.Rent(1 << 16);
        try
        {
            using (zip)
                foreach (var entry in zip.Entries)
                    VerifyEntry(path, entry, buffer);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
        Passed[key] = true;
    }

    private static void VerifyEntry(string path, ZipArchiveEntry entry, byte[] buffer)
    {
        if (entry.Length > MaxEntryBytes || entry.Length > entry.CompressedLength * MaxDeflateRatio + buffer.Length)
            throw Damaged(path, entry, $"its header claims {entry.Length:N0} bytes from {entry.CompressedLength:N0} compressed " +
                $"(a model entry holds at most {MaxEntryBytes:N0}, and deflate expands at most {MaxDeflateRatio}:1)");
        var crc = new Crc32();
        long total = 0;
        try
        {
            using var stream = entry.Open();
            int read;
            while ((read = stream.Read(buffer, 0, buffer.Length)) > 0)
            {
                total += read;
                if (total > entry.Length)
                    throw Damaged(path, entry, $"it holds more than the {entry.Length:N0} bytes its header says");
                crc.Append(buffer.AsSpan(0, read));
            }
        }
        catch (Exception e) when (e is InvalidDataException or IOException or NotSupportedException && !IsOurs(e))
        {
            throw Damaged(path, entry, e.Message, e);
        }
        if (total != entry.Length)
            throw Damaged(path, entry, $"it holds {total:N0} bytes, its header says {entry.Length:N0}");
        if (crc.GetCurrentHashAsUInt32() != entry.Crc32)
            throw Damaged(path, entry, "its bytes do not match their CRC-32: the file was changed or damaged after it was written");
    }

    private static bool IsOurs(Exception e) => e.Data.Contains(nameof(ModelZip));

    private static InvalidDataException Damaged(string path, ZipArchiveEntry entry, string problem, Exception? inner = null)
    {
        var e = new InvalidDataException($"{path}: the entry '{entry.FullName}' is damaged: {problem}.", inner);
        e.Data[nameof(ModelZip)] = true;
        return e;
    }
}

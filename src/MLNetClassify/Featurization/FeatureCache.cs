using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Security.Cryptography;
using MLNetClassify.Backbones;
using MLNetClassify.Data;

namespace MLNetClassify.Featurization;

/// <summary>
/// Bottleneck features on disk, one small file per image, keyed by the SHA-256 of the image file's bytes under a
/// folder keyed by the SHA-256 of the featurizer graph (which holds the backbone's weights, its preprocessing and the
/// input size): the same picture under another name is a hit; another backbone, size or weight storage is a miss.
/// Entries are written atomically and checked when read (length, header, the image key they were written for, SHA-256
/// of key and values): a damaged entry, or one copied over another image's, is reported and featurized again; an entry
/// of an older format is a plain miss. Shards written by several processes into one folder merge by copying files.
/// Features computed with TF32 on CUDA live in a folder of their own (the graph key with "-tf32"): they differ from
/// float32 features by more than float32 rounding. CPU and CUDA float32 features share a folder, as they agree to
/// within what <c>gpu-check</c> asserts. Large unpooled maps (a backbone cut before its last stage, for fine-tuning) may
/// be stored as float16 (".f16" entries, half the bytes), read back as float32.
/// </summary>
internal sealed class FeatureCache
{
    private static readonly byte[] Magic = "MLNCFEAT"u8.ToArray();
    private const int Version = 2;

    // Magic, version, dimensions, SHA-256 of the rest, then the image's content key (32 bytes), then the values.
    private const int HashOffset = 16, KeyOffset = 48, HeaderBytes = 80;
    private static readonly ConcurrentDictionary<BackboneSpec, string> GraphKeys = new();

    /// <summary>Opens (creating when needed) the cache for <paramref name="backbone"/> under <paramref name="directory"/>.</summary>
    /// <param name="directory">The cache's root folder.</param>
    /// <param name="backbone">The backbone whose featurizer graph keys the folder.</param>
    /// <param name="dimensions">Values per entry.</param>
    /// <param name="tf32">The features come from CUDA with TF32 allowed (kept apart from float32 ones).</param>
    /// <exception cref="IOException">The folder cannot be created.</exception>
    public FeatureCache(string directory, BackboneSpec backbone, int dimensions, bool tf32 = false)
        : this(directory, GraphKey(backbone ?? throw new ArgumentNullException(nameof(backbone))), dimensions, tf32)
    {
    }

    /// <summary>The cache for an already built featurizer graph (one read back from a saved model).</summary>
    /// <remarks>With <c>half</c>, the values are stored as float16 (entries of their own kind, ".f16").</remarks>
    internal FeatureCache(string directory, string backboneName, byte[] graph, int dimensions, bool tf32 = false, bool half = false)
        : this(directory, GraphKey(backboneName, graph), dimensions, tf32, half)
    {
    }

    private FeatureCache(string directory, string graphKey, int dimensions, bool tf32, bool half = false)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        Dimensions = dimensions;
        StoresHalf = half;
        Folder = Path.Combine(Path.GetFullPath(directory), tf32 ? graphKey + "-tf32" : graphKey);
        Directory.CreateDirectory(Folder);
    }

    /// <summary>The folder that holds this backbone's entries.</summary>
    public string Folder { get; }

    /// <summary>Values per entry.</summary>
    public int Dimensions { get; }

    /// <summary>True when entries hold float16 values (2 bytes each) rather than float32.</summary>
    public bool StoresHalf { get; }

    private int ValueBytes => StoresHalf ? 2 : 4;

    /// <summary>Hex SHA-256 of the file's bytes.</summary>
    /// <exception cref="IOException">The file cannot be read.</exception>
    public static string ContentKey(string imagePath) => ContentHash.Of(imagePath);

    /// <summary>Reads the entry for <paramref name="contentKey"/>; false when absent, or when damaged (then <paramref name="problem"/> says how).</summary>
    public bool TryRead(string contentKey, Span<float> destination, out string? problem)
    {
        problem = null;
        var path = EntryPath(contentKey);
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return false;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            problem = $"cache entry {path} cannot be read ({e.Message}); featurizing again";
            return false;
        }
        problem = Check(bytes, destination.Length, contentKey, ValueBytes);
        if (problem is not null)
        {
            problem = problem == OlderFormat ? null : $"cache entry {path} is damaged ({problem}); featurizing again";
            return false;
        }
        if (StoresHalf)
            for (int i = 0; i < destination.Length; i++)
                destination[i] = (float)BinaryPrimitives.ReadHalfLittleEndian(bytes.AsSpan(HeaderBytes + 2 * i));
        else
            for (int i = 0; i < destination.Length; i++)
                destination[i] = BinaryPrimitives.ReadSingleLittleEndian(bytes.AsSpan(HeaderBytes + 4 * i));
        return true;
    }

    /// <summary>Writes (atomically) the entry for <paramref name="contentKey"/>.</summary>
    /// <exception cref="IOException">It cannot be written.</exception>
    public void Write(string contentKey, ReadOnlySpan<float> values)
    {
        if (values.Length != Dimensions)
            throw new ArgumentException($"Expected {Dimensions} values, got {values.Length}.", nameof(values));
        var bytes = new byte[HeaderBytes + ValueBytes * values.Length];
        if (StoresHalf)
            for (int i = 0; i < values.Length; i++)
                BinaryPrimitives.WriteHalfLittleEndian(bytes.AsSpan(HeaderBytes + 2 * i), (Half)values[i]);
        else
            for (int i = 0; i < values.Length; i++)
                BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(HeaderBytes + 4 * i), values[i]);
        Magic.CopyTo(bytes, 0);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(8), Version);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(12), values.Length);
        Convert.FromHexString(contentKey).CopyTo(bytes.AsSpan(KeyOffset, 32));
        SHA256.HashData(bytes.AsSpan(KeyOffset), bytes.AsSpan(HashOffset, 32));
        AtomicFile.Write(EntryPath(contentKey), s => s.Write(bytes), durable: false);
    }

    /// <summary>
    /// Copies every sound entry under <paramref name="source"/> (a cache folder another process filled, e.g. one shard)
    /// into <paramref name="destination"/>, atomically, skipping entries the destination already has; damaged
    /// entries are not copied and are listed.
    /// </summary>
    /// <returns>Entries copied, entries already present, and the damaged ones with why.</returns>
    /// <exception cref="DirectoryNotFoundException">The source folder does not exist.</exception>
    public static (int Copied, int Present, IReadOnlyList<string> Damaged) Merge(string source, string destination)
    {
        var from = Path.GetFullPath(source);
        if (!Directory.Exists(from))
            throw new DirectoryNotFoundException($"Cache folder to merge not found: {source}");
        var to = Path.GetFullPath(destination);
        int copied = 0, present = 0;
        var damaged = new List<string>();
        var files = Directory.EnumerateFiles(from, "*.f32", SearchOption.AllDirectories).Concat(Directory.EnumerateFiles(from, "*.f16", SearchOption.AllDirectories));
        foreach (var file in files.Order(StringComparer.Ordinal))
        {
            int valueBytes = file.EndsWith(".f16", StringComparison.Ordinal) ? 2 : 4;
            var relative = Path.GetRelativePath(from, file);
            var target = Path.Combine(to, relative);
            var bytes = File.ReadAllBytes(file);
            var key = Path.GetFileNameWithoutExtension(file);
            int dimensions = bytes.Length >= HeaderBytes ? BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(12)) : -1;
            var problem = dimensions < 0 ? "too short" : Check(bytes, dimensions, key, valueBytes);
            if (problem is not null)
            {
                damaged.Add($"{file}: {problem}");
                continue;
            }
            if (File.Exists(target) && Check(File.ReadAllBytes(target), dimensions, key, valueBytes) is null)
            {
                present++;
                continue;
            }
            AtomicFile.Write(target, s => s.Write(bytes), durable: false);
            copied++;
        }
        return (copied, present, damaged);
    }

    /// <summary>What <see cref="Check"/> says of a sound entry written by an earlier version: not damaged, only unusable.</summary>
    private const string OlderFormat = "an entry of an older format";

    /// <summary>Null when <paramref name="bytes"/> is a sound entry of <paramref name="dimensions"/> values for the image <paramref name="contentKey"/>; else what is wrong.</summary>
    private static string? Check(byte[] bytes, int dimensions, string contentKey, int valueBytes)
    {
        if (bytes.Length >= 12 && bytes.AsSpan(0, 8).SequenceEqual(Magic) && BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(8)) is > 0 and < Version)
            return OlderFormat;
        if (bytes.Length != HeaderBytes + (long)valueBytes * dimensions)
            return $"{bytes.Length} bytes, expected {HeaderBytes + (long)valueBytes * dimensions}";
        if (!bytes.AsSpan(0, 8).SequenceEqual(Magic) || BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(8)) != Version)
            return $"not a version-{Version} MLNetClassify feature entry";
        if (BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(12)) != dimensions)
            return "wrong length";
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(bytes.AsSpan(KeyOffset), hash);
        if (!hash.SequenceEqual(bytes.AsSpan(HashOffset, 32)))
            return "checksum mismatch";
        var key = Convert.ToHexStringLower(bytes.AsSpan(KeyOffset, 32));
        return key == contentKey ? null : $"it holds the features of another image (content key {key[..12]}…), copied or renamed over this one's";
    }

    private string EntryPath(string contentKey) => Path.Combine(Folder, contentKey[..2], contentKey + (StoresHalf ? ".f16" : ".f32"));

    private static string GraphKey(BackboneSpec backbone) => GraphKeys.GetOrAdd(backbone, b => GraphKey(b.Name, FeaturizerGraph.Build(b)));

    private static string GraphKey(string name, byte[] graph) => $"{Sanitize(name)}-{Convert.ToHexStringLower(SHA256.HashData(graph))[..16]}";

    private static string Sanitize(string name) => string.Concat(name.Select(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' ? c : '_'));
}

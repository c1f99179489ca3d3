using System.Buffers.Binary;
using System.IO.Compression;

namespace MLNetClassify.Testing;

/// <summary>
/// Damaged copies of a model zip, as a disk, a transfer or an attacker makes them: flipped bytes, truncations, entries
/// swapped, removed, replaced by noise or by a decompression bomb, and entries whose headers claim gigabytes. Shared by
/// the suite's crafted-model test and the benchmarks' 1,000-zip lab.
/// </summary>
internal static class ZipMutations
{
    /// <summary>The kinds of damage, in the order <see cref="Mutate"/> cycles through them.</summary>
    public static readonly string[] Kinds = ["flip", "truncate", "swap", "remove", "noise", "bomb", "claims-gigabytes"];

    /// <summary>Damage number <paramref name="index"/> of <paramref name="zip"/> (the kind cycles; the details come from the seed).</summary>
    public static (string Kind, byte[] Bytes) Mutate(byte[] zip, int index, int seed)
    {
        var random = new Random(unchecked(seed * 1_000_003 + index)); // not HashCode.Combine: it is seeded anew in every process
        string kind = Kinds[index % Kinds.Length];
        return (kind, kind switch
        {
            "flip" => Flip(zip, random),
            "truncate" => zip[..random.Next(1, zip.Length)],
            "swap" => Rewrite(zip, random, (entries, r) =>
            {
                int a = r.Next(entries.Count), b = r.Next(entries.Count);
                (entries[a].Data, entries[b].Data) = (entries[b].Data, entries[a].Data);
            }),
            "remove" => Rewrite(zip, random, (entries, r) => entries.RemoveAt(r.Next(entries.Count))),
            "noise" => Rewrite(zip, random, (entries, r) =>
            {
                var noise = new byte[r.Next(1, 4096)];
                r.NextBytes(noise);
                entries[r.Next(entries.Count)].Data = noise;
            }),
            // 256 MB of zeros: a few hundred KB compressed.
            "bomb" => Rewrite(zip, random, (entries, r) => entries[r.Next(entries.Count)].Data = new byte[256 << 20]),
            _ => ClaimGigabytes(zip, random),
        });
    }

    private static byte[] Flip(byte[] zip, Random random)
    {
        var copy = (byte[])zip.Clone();
        int flips = random.Next(1, 9);
        for (int i = 0; i < flips; i++)
            copy[random.Next(copy.Length)] ^= (byte)(1 << random.Next(8));
        return copy;
    }

    private sealed class Entry(string name, byte[] data)
    {
        public string Name { get; } = name;
        public byte[] Data { get; set; } = data;
    }

    private static byte[] Rewrite(byte[] zip, Random random, Action<List<Entry>, Random> change)
    {
        var entries = new List<Entry>();
        using (var archive = new ZipArchive(new MemoryStream(zip), ZipArchiveMode.Read))
            foreach (var e in archive.Entries)
            {
                using var data = new MemoryStream();
                using (var stream = e.Open()) stream.CopyTo(data);
                entries.Add(new Entry(e.FullName, data.ToArray()));
            }
        change(entries, random);
        using var output = new MemoryStream();
        using (var archive = new ZipArchive(output, ZipArchiveMode.Create, leaveOpen: true))
            foreach (var e in entries)
                using (var stream = archive.CreateEntry(e.Name, CompressionLevel.Fastest).Open())
                    stream.Write(e.Data);
        return output.ToArray();
    }

    /// <summary>One entry's uncompressed size set to about 2 GB in its local header and in the central directory.</summary>
    private static byte[] ClaimGigabytes(byte[] zip, Random random)
    {
        var copy = (byte[])zip.Clone();
        var central = new List<int>();
        for (int i = 0; i + 46 <= copy.Length; i++)
            if (BinaryPrimitives.ReadUInt32LittleEndian(copy.AsSpan(i)) == 0x02014b50) // central directory file header
                central.Add(i);
        if (central.Count == 0) return copy;
        int at = central[random.Next(central.Count)];
        uint claim = 0x7FFF0000u + (uint)random.Next(0xFFFF);
        BinaryPrimitives.WriteUInt32LittleEndian(copy.AsSpan(at + 24), claim);
        int local = (int)BinaryPrimitives.ReadUInt32LittleEndian(copy.AsSpan(at + 42));
        if (local >= 0 && local + 30 <= copy.Length && BinaryPrimitives.ReadUInt32LittleEndian(copy.AsSpan(local)) == 0x04034b50)
            BinaryPrimitives.WriteUInt32LittleEndian(copy.AsSpan(local + 22), claim);
        return copy;
    }
}

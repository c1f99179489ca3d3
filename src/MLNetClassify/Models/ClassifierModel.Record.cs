using System.IO.Compression;
using System.Text;
using Microsoft.ML;
using MLNetClassify.Learning;

namespace MLNetClassify.Models;

/// <summary>The head record: the tail, the class names and the fingerprints of ML.NET's entries, in one zip entry.</summary>
internal sealed partial record ClassifierModel
{
    private const string Magic = "MLNetClassify head";
    private const int Version = 1;

    /// <summary>The zip entry with the head's numbers and the fingerprints of ML.NET's entries.</summary>
    public const string HeadEntry = "MLNetClassify/head.bin";

    /// <summary>
    /// The contents of <see cref="HeadEntry"/> for a zip ML.NET has just written for <paramref name="model"/> (opened
    /// read-only), when the chain is the library's shape (<see cref="FromChain"/>); otherwise null.
    /// </summary>
    internal static byte[]? Record(MLContext mlContext, ITransformer model, ZipArchive zip) =>
        ModelFiles.FindFeaturizerGraph(zip) is { } graph && FromChain(mlContext, model, graph.Featurizer, out _) is { } classifier
            ? classifier.Record(graph.Entry, zip)
            : null;

    /// <summary>
    /// The contents of <see cref="HeadEntry"/>: this model's tail and classes, the zip entry that holds its trunk, and the
    /// CRC-32 and length of every entry ML.NET wrote into <paramref name="zip"/> (read-only, just written).
    /// </summary>
    internal byte[] Record(string graphEntry, ZipArchive zip)
    {
        var fingerprints = MlNetEntries(zip).Select(e => (e.FullName, e.Crc32, e.Length)).ToList();
        using var bytes = new MemoryStream();
        using var writer = new BinaryWriter(bytes, Encoding.UTF8);
        writer.Write(Magic);
        writer.Write(Version);
        writer.Write(graphEntry);
        writer.Write(Trunk.BackboneName);
        writer.Write(Trunk.InputSize);
        writer.Write(Trunk.Channels);
        writer.Write(Classes.Count);
        foreach (var name in Classes) writer.Write(name);
        foreach (var w in Tail.Weights) writer.Write(w);
        foreach (var b in Tail.Bias) writer.Write(b);
        writer.Write(fingerprints.Count);
        foreach (var (name, crc, length) in fingerprints)
        {
            writer.Write(name);
            writer.Write(crc);
            writer.Write(length);
        }
        writer.Flush();
        return bytes.ToArray();
    }

    /// <summary>The parts from <see cref="HeadEntry"/>, or null when the zip has none or ML.NET's entries changed since it was written.</summary>
    /// <exception cref="FileNotFoundException">No such file.</exception>
    internal static ClassifierModel? TryReadRecorded(string modelPath)
    {
        if (!File.Exists(modelPath))
            throw new FileNotFoundException($"Model file not found: {modelPath}", modelPath);
        ModelZip.Verify(modelPath); // a damaged zip is refused here, naming the entry, rather than read through ML.NET
        try
        {
            using var zip = ZipFile.OpenRead(modelPath);
            if (zip.GetEntry(HeadEntry) is not { } entry)
                return null;
            using var reader = new BinaryReader(entry.Open(), Encoding.UTF8);
            if (reader.ReadString() != Magic || reader.ReadInt32() != Version)
                return null;
            string graphEntry = reader.ReadString(), backbone = reader.ReadString();
            int size = reader.ReadInt32(), channels = reader.ReadInt32(), count = reader.ReadInt32();
            if (size <= 0 || channels <= 0 || count is < 1 or > 100_000 || (long)count * channels * sizeof(float) > entry.Length)
                return null; // not numbers this entry can hold
            var classes = Enumerable.Range(0, count).Select(_ => reader.ReadString()).ToList();
            var weights = Enumerable.Range(0, count * channels).Select(_ => reader.ReadSingle()).ToArray();
            var biases = Enumerable.Range(0, count).Select(_ => reader.ReadSingle()).ToArray();
            int entries = reader.ReadInt32();
            var recorded = Enumerable.Range(0, entries).Select(_ => (Name: reader.ReadString(), Crc: reader.ReadUInt32(), Length: reader.ReadInt64())).ToList();
            var present = MlNetEntries(zip).Select(e => (Name: e.FullName, Crc: e.Crc32, e.Length)).ToList();
            if (!recorded.SequenceEqual(present))
                return null; // ML.NET's part of the zip is not what the numbers were recorded with
            if (zip.GetEntry(graphEntry) is not { } onnx || ModelFiles.ReadOnnxEntry(onnx) is not { } graph)
                return null;
            return new ClassifierModel(new ClassifierTrunk(graph, backbone, size, channels), new SoftmaxLayer(weights, biases, channels), classes)
            {
                TrainedImages = ModelFiles.ReadTrainedImages(zip, modelPath),
            };
        }
        catch (Exception e) when (e is InvalidDataException or EndOfStreamException or IOException or DecoderFallbackException)
        {
            return null; // not a zip, or an unreadable entry: the ML.NET path says what is wrong
        }
    }

    /// <summary>The entries ML.NET wrote: all but MLNetClassify's own, in the zip's order.</summary>
    private static IEnumerable<ZipArchiveEntry> MlNetEntries(ZipArchive zip) =>
        zip.Entries.Where(e => !e.FullName.StartsWith("MLNetClassify/", StringComparison.Ordinal));
}

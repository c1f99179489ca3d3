using System.IO.Compression;
using System.Text;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Trainers;

namespace MLNetClassify.Models;

/// <summary>
/// A saved zip read as its two learned parts: the MLNetClassify featurizer graph and, directly on its features, the
/// ML.NET softmax layer (weights W [classes × features], biases b). What retraining, class activation maps and the ONNX
/// export start from.
/// </summary>
/// <remarks>
/// Reading through ML.NET means a full <c>Model.Load</c> (its ONNX Runtime session included: 0.4 s for ResNet18 on 2
/// cores). A zip saved by <see cref="ModelFiles.Save"/> also carries <see cref="HeadEntry"/>: the same numbers, the
/// class names, where the graph is, and the CRC-32 and length of every entry ML.NET wrote. When all of those still
/// match, the parts are read from the zip directly; when anything differs (an entry replaced, added or removed), or the
/// entry is missing or unreadable, the zip is read through ML.NET as before. A test checks both give the same parts.
/// </remarks>
internal sealed record ClassifierModel(ClassifierTrunk Featurizer, float[][] Weights, float[] Biases, IReadOnlyList<string> Classes)
{
    /// <summary>The zip entry with the head's numbers and the fingerprints of ML.NET's entries.</summary>
    public const string HeadEntry = "MLNetClassify/head.bin";

    private const string Magic = "MLNetClassify head";
    private const int Version = 1;

    /// <summary>The images the head trained on, by <see cref="ModelFiles.TrainedImageKey"/>, when the zip lists them.</summary>
    public IReadOnlySet<string>? TrainedImages { get; init; }

    /// <summary>Reads <paramref name="modelPath"/>; <paramref name="purpose"/> ends the message when it is not such a zip.</summary>
    /// <exception cref="FileNotFoundException">No such file.</exception>
    /// <exception cref="InvalidDataException">No featurizer graph (a pixel perceptron, a model from elsewhere), no softmax head, or other steps between them; the message says which.</exception>
    public static ClassifierModel Read(MLContext mlContext, string modelPath, string purpose) =>
        TryReadRecorded(modelPath) ?? ReadThroughMlNet(mlContext, modelPath, purpose);

    /// <summary>Reads the parts by loading the zip with ML.NET (any zip with our graph and an ML.NET softmax head on it).</summary>
    internal static ClassifierModel ReadThroughMlNet(MLContext mlContext, string modelPath, string purpose)
    {
        var model = ModelFiles.Load(mlContext, modelPath);
        // Only its numbers are kept: disposing the chain deletes the temporary copy of its ONNX graph ML.NET wrote.
        using var release = model as IDisposable;
        var saved = ModelFiles.ReadFeaturizerGraph(modelPath)
            ?? throw new InvalidDataException($"{modelPath} holds no MLNetClassify featurizer graph (a pixel perceptron, or a model from elsewhere): {purpose}.");
        var (weights, biases) = HeadOf(model) ?? throw new InvalidDataException($"{modelPath} has no softmax head (ML.NET's MaximumEntropy layer) on the features: {purpose}.");
        if (weights.Any(w => w.Length != saved.Channels))
            throw new InvalidDataException($"{modelPath}: the head takes {weights[0].Length} inputs, the featurizer gives {saved.Channels} (other steps between them): {purpose}.");
        IReadOnlyList<string> classes;
        try
        {
            classes = ModelInfo.Classes(mlContext, model);
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or KeyNotFoundException)
        {
            // A zip whose entries are intact but do not fit together (one step's input missing from the one before).
            throw new InvalidDataException($"{modelPath} loads, but its steps do not fit together ({e.Message}): {purpose}.", e);
        }
        return new ClassifierModel(saved, weights, biases, classes)
        {
            TrainedImages = ModelFiles.ReadTrainedImages(modelPath),
        };
    }

    private static (float[][] Weights, float[] Biases)? HeadOf(ITransformer model)
    {
        var head = ModelInfo.Leaves(model).OfType<MulticlassPredictionTransformer<MaximumEntropyModelParameters>>().LastOrDefault();
        if (head is null) return null;
        VBuffer<float>[] rows = [];
        head.Model.GetWeights(ref rows, out _);
        return (rows.Select(v => v.DenseValues().ToArray()).ToArray(), head.Model.GetBiases().ToArray());
    }

    /// <summary>
    /// The contents of <see cref="HeadEntry"/> for a zip ML.NET has just written for <paramref name="model"/> (opened
    /// read-only), when the model is a featurizer graph with a softmax head on it; otherwise null.
    /// </summary>
    internal static byte[]? Record(MLContext mlContext, ITransformer model, ZipArchive zip)
    {
        if (HeadOf(model) is not { } head || ModelFiles.FindFeaturizerGraph(zip) is not { } graph
            || head.Weights.Any(w => w.Length != graph.Featurizer.Channels))
            return null;
        var classes = ModelInfo.Classes(mlContext, model);
        if (classes.Count != head.Weights.Length)
            return null;
        var fingerprints = MlNetEntries(zip).Select(e => (e.FullName, e.Crc32, e.Length)).ToList();
        using var bytes = new MemoryStream();
        using var writer = new BinaryWriter(bytes, Encoding.UTF8);
        writer.Write(Magic);
        writer.Write(Version);
        writer.Write(graph.Entry);
        writer.Write(graph.Featurizer.BackboneName);
        writer.Write(graph.Featurizer.InputSize);
        writer.Write(graph.Featurizer.Channels);
        writer.Write(classes.Count);
        foreach (var name in classes) writer.Write(name);
        foreach (var row in head.Weights)
            foreach (var w in row) writer.Write(w);
        foreach (var b in head.Biases) writer.Write(b);
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
            var weights = Enumerable.Range(0, count).Select(_ => Enumerable.Range(0, channels).Select(_ => reader.ReadSingle()).ToArray()).ToArray();
            var biases = Enumerable.Range(0, count).Select(_ => reader.ReadSingle()).ToArray();
            int entries = reader.ReadInt32();
            var recorded = Enumerable.Range(0, entries).Select(_ => (Name: reader.ReadString(), Crc: reader.ReadUInt32(), Length: reader.ReadInt64())).ToList();
            var present = MlNetEntries(zip).Select(e => (Name: e.FullName, Crc: e.Crc32, e.Length)).ToList();
            if (!recorded.SequenceEqual(present))
                return null; // ML.NET's part of the zip is not what the numbers were recorded with
            if (zip.GetEntry(graphEntry) is not { } onnx || ModelFiles.ReadOnnxEntry(onnx) is not { } graph)
                return null;
            return new ClassifierModel(new ClassifierTrunk(graph, backbone, size, channels), weights, biases, classes)
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

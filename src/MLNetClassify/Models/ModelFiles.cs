using System.Buffers.Binary;
using System.IO.Compression;
using Microsoft.ML;
using MLNetClassify.Backbones;
using MLNetClassify.Data;

namespace MLNetClassify.Models;

/// <summary>Saving and loading model zips, with errors that name the file.</summary>
internal static class ModelFiles
{
    /// <summary>The zip entry that records how a model was trained (JSON); stock ML.NET's loader does not read it.</summary>
    public const string TrainingRecordEntry = "MLNetClassify/training.json";

    /// <summary>The zip entry that lists the images the head trained on, one <see cref="TrainedImageKey"/> a line.</summary>
    public const string TrainedImagesEntry = "MLNetClassify/trained-images.txt";

    /// <summary>The most a training record may hold (ours are a few KB); a larger entry is refused, never read into memory.</summary>
    private const long MaxRecordBytes = 16 << 20;

    /// <summary>The most the image list may hold: two million images of 33 bytes a line.</summary>
    private const long MaxImageListBytes = 64 << 20;

    /// <summary><paramref name="entry"/>, when it holds no more than <paramref name="limit"/> bytes; else an error naming it.</summary>
    private static ZipArchiveEntry Bounded(string path, ZipArchiveEntry entry, long limit) =>
        entry.Length <= limit ? entry
            : throw new InvalidDataException($"{path}: the entry '{entry.FullName}' holds {entry.Length:N0} bytes, more than such an entry can ({limit:N0}); the file is damaged or was not written by MLNetClassify.");

    /// <summary>How the list names an image: the first 128 bits of its content's SHA-256, in hex (the file's name and place do not matter).</summary>
    public static string TrainedImageKey(string path) => TrainedImageList.Key(ContentHash.Of(path));

    /// <summary>
    /// The steps of <paramref name="model"/> that scoring needs, and their input schema: a workflow model's leading
    /// label → key mapping (which training and evaluation need, and which makes scoring ask for a Label column) left
    /// out, so the input is the image column alone. A model without such a step is returned as it is.
    /// </summary>
    public static (ITransformer Model, DataViewSchema InputSchema) ScoringOnly(ITransformer model, DataViewSchema inputSchema)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(inputSchema);
        if (model is not Microsoft.ML.Data.TransformerChain<ITransformer> chain
            || chain.FirstOrDefault() is not Microsoft.ML.Transforms.ValueToKeyMappingTransformer
            || inputSchema.GetColumnOrNull(nameof(Data.LabeledImage.Label)) is null)
            return (model, inputSchema);
        var builder = new DataViewSchema.Builder();
        foreach (var column in inputSchema.Where(c => c.Name != nameof(Data.LabeledImage.Label)))
            builder.AddColumn(column.Name, column.Type, column.Annotations);
        return (new Microsoft.ML.Data.TransformerChain<ITransformer>(chain.Skip(1).ToArray()), builder.ToSchema());
    }

    /// <summary>
    /// Saves with <c>mlContext.Model.Save</c> to a temporary file, then renames it over <paramref name="path"/>; with
    /// <paramref name="trainingRecord"/> (JSON), also a <see cref="TrainingRecordEntry"/> entry in the zip, and with
    /// <paramref name="trainedImages"/>, a <see cref="TrainedImagesEntry"/> that lists them by content, which
    /// retraining reads to keep them out of its validation rows. A classifier's zip also gets
    /// <see cref="ClassifierModel.HeadEntry"/>, which lets retraining read its parts without an ML.NET load.
    /// </summary>
    public static void Save(MLContext mlContext, ITransformer model, DataViewSchema inputSchema, string path, string? trainingRecord = null,
        TrainedImageList? trainedImages = null) =>
        Save(mlContext, model, inputSchema, null, path, trainingRecord, trainedImages);

    /// <summary>
    /// Saves <paramref name="classifier"/>: the stock ML.NET chain generated from it (<see cref="ClassifierModel.ToChain"/>)
    /// and its <see cref="ClassifierModel.HeadEntry"/> written from the model itself; otherwise as
    /// <see cref="Save(MLContext, ITransformer, DataViewSchema, string, string?, TrainedImageList?)"/>.
    /// </summary>
    public static void Save(MLContext mlContext, ClassifierModel classifier, string path, string? trainingRecord = null, TrainedImageList? trainedImages = null)
    {
        ArgumentNullException.ThrowIfNull(classifier);
        var (model, inputSchema) = classifier.ToChain(mlContext);
        try
        {
            Save(mlContext, model, inputSchema, classifier, path, trainingRecord, trainedImages);
        }
        finally
        {
            (model as IDisposable)?.Dispose();
        }
    }

    private static void Save(MLContext mlContext, ITransformer model, DataViewSchema inputSchema, ClassifierModel? classifier, string path, string? trainingRecord,
        TrainedImageList? trainedImages)
    {
        ArgumentNullException.ThrowIfNull(mlContext);
        using var buffer = new MemoryStream();
        mlContext.Model.Save(model, inputSchema, buffer);
        byte[]? head;
        using (var written = new ZipArchive(new MemoryStream(buffer.GetBuffer(), 0, (int)buffer.Length, writable: false), ZipArchiveMode.Read))
            head = classifier is null ? ClassifierModel.Record(mlContext, model, written)
                : FindFeaturizerGraph(written) is { } graph && graph.Featurizer.Graph.AsSpan().SequenceEqual(classifier.Trunk.Graph)
                    ? classifier.Record(graph.Entry, written)
                    : throw new InvalidOperationException("The chain generated from the classifier model does not hold its trunk graph.");
        using (var zip = new ZipArchive(buffer, ZipArchiveMode.Update, leaveOpen: true))
        {
            if (head is not null)
                using (var stream = zip.CreateEntry(ClassifierModel.HeadEntry).Open())
                    stream.Write(head);
            if (trainingRecord is not null)
                using (var writer = new StreamWriter(zip.CreateEntry(TrainingRecordEntry).Open()))
                    writer.Write(trainingRecord);
            if (trainedImages is not null)
                using (var writer = new StreamWriter(zip.CreateEntry(TrainedImagesEntry).Open()))
                    foreach (var key in trainedImages.Keys.Distinct().Order(StringComparer.Ordinal))
                        writer.Write(key + "\n");
        }
        AtomicFile.Write(path, stream => stream.Write(buffer.GetBuffer(), 0, (int)buffer.Length));
    }

    /// <summary>The training record a zip carries (JSON), or null when it has none (saved without one, or by stock ML.NET).</summary>
    /// <exception cref="FileNotFoundException">No such file.</exception>
    /// <exception cref="InvalidDataException">The file is not a zip.</exception>
    public static string? ReadTrainingRecord(string path)
    {
        if (!File.Exists(path))
            throw new FileNotFoundException($"Model file not found: {path}", path);
        ModelZip.Verify(path);
        try
        {
            using var zip = ZipFile.OpenRead(path);
            var entry = zip.GetEntry(TrainingRecordEntry);
            if (entry is null) return null;
            using var reader = new StreamReader(Bounded(path, entry, MaxRecordBytes).Open());
            return reader.ReadToEnd();
        }
        catch (InvalidDataException e)
        {
            throw new InvalidDataException($"{path} is not a model zip: {e.Message}", e);
        }
    }

    /// <summary>The <see cref="TrainedImageKey"/>s a zip lists, or null when it lists none (saved without them, or by stock ML.NET).</summary>
    /// <exception cref="FileNotFoundException">No such file.</exception>
    /// <exception cref="InvalidDataException">The file is not a zip.</exception>
    public static IReadOnlySet<string>? ReadTrainedImages(string path)
    {
        if (!File.Exists(path))
            throw new FileNotFoundException($"Model file not found: {path}", path);
        ModelZip.Verify(path);
        try
        {
            using var zip = ZipFile.OpenRead(path);
            return ReadTrainedImages(zip, path);
        }
        catch (InvalidDataException e)
        {
            throw new InvalidDataException($"{path} is not a model zip: {e.Message}", e);
        }
    }

    /// <summary>The <see cref="TrainedImageKey"/>s an open zip lists, or null.</summary>
    internal static IReadOnlySet<string>? ReadTrainedImages(ZipArchive zip, string path)
    {
        var entry = zip.GetEntry(TrainedImagesEntry);
        if (entry is null) return null;
        using var reader = new StreamReader(Bounded(path, entry, MaxImageListBytes).Open());
        var keys = new HashSet<string>(StringComparer.Ordinal);
        while (reader.ReadLine() is { } line)
            if (line.Length == 32) keys.Add(line);
        return keys;
    }

    /// <summary>Loads a model zip with stock <c>mlContext.Model.Load</c>.</summary>
    /// <exception cref="FileNotFoundException">No such file.</exception>
    /// <exception cref="InvalidDataException">The file is not an ML.NET model zip.</exception>
    public static ITransformer Load(MLContext mlContext, string path) => Load(mlContext, path, out _);

    /// <summary>Loads a model zip and, with <paramref name="warmUp"/>, runs generated images through it (<see cref="ModelWarmUp"/>).</summary>
    public static ITransformer Load(MLContext mlContext, string path, bool warmUp)
    {
        var model = Load(mlContext, path, out var inputSchema);
        if (warmUp)
            ModelWarmUp.Run(mlContext, model, inputSchema);
        return model;
    }

    /// <summary>Loads a model zip, and the input schema saved with it.</summary>
    public static ITransformer Load(MLContext mlContext, string path, out DataViewSchema inputSchema)
    {
        ArgumentNullException.ThrowIfNull(mlContext);
        if (!File.Exists(path))
            throw new FileNotFoundException($"Model file not found: {path}", path);
        ModelZip.Verify(path);
        try
        {
            return mlContext.Model.Load(path, out inputSchema);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // The zip's entries are intact (checked above), so what ML.NET's loader throws is about what they describe.
            var cause = e is System.Reflection.TargetInvocationException { InnerException: { } inner } ? inner : e;
            throw new InvalidDataException($"{path} is not a readable ML.NET model zip: {cause.Message}", e);
        }
    }

    /// <summary>
    /// The MLNetClassify featurizer graph a saved model zip carries (stock ML.NET stores an ApplyOnnxModel graph as a
    /// length-prefixed "OnnxModel" entry), with the backbone's name, input side and feature count read from it; null
    /// when the zip holds none, or more than one.
    /// </summary>
    /// <remarks>
    /// Relies on an internal fact of ML.NET's model format (Microsoft.ML.OnnxTransformer 5.0.1 and 6.0.0, the tested
    /// range): OnnxTransformer saves its graph as a zip entry named "OnnxModel" holding a little-endian int32 length
    /// followed by that many bytes of the ONNX protobuf. Entries that do not fit that shape, or whose graph is not one of
    /// ours (<see cref="FeaturizerGraph.TryDescribe"/> checks the name prefix and the input and output shapes), are
    /// passed over, so a different format makes callers fall back to scoring row by row, never misread a graph.
    /// Tested by EvaluateSavedTests (the graph read back equals the built one byte for byte).
    /// </remarks>
    /// <exception cref="FileNotFoundException">No such file.</exception>
    /// <exception cref="InvalidDataException">The file is not a zip.</exception>
    internal static ClassifierTrunk? ReadFeaturizerGraph(string path)
    {
        if (!File.Exists(path))
            throw new FileNotFoundException($"Model file not found: {path}", path);
        ModelZip.Verify(path);
        try
        {
            using var zip = ZipFile.OpenRead(path);
            return FindFeaturizerGraph(zip)?.Featurizer;
        }
        catch (InvalidDataException e)
        {
            throw new InvalidDataException($"{path} is not a readable ML.NET model zip: {e.Message}", e);
        }
    }

    /// <summary>The one MLNetClassify featurizer graph in an open model zip and the entry that holds it; null when none or several.</summary>
    internal static (string Entry, ClassifierTrunk Featurizer)? FindFeaturizerGraph(ZipArchive zip)
    {
        var found = new List<(string, ClassifierTrunk)>();
        foreach (var entry in zip.Entries.Where(e => e.Name == "OnnxModel" && e.Length > 4).ToList())
        {
            if (ReadOnnxEntry(entry) is not { } graph)
                continue;
            global::Onnx.ModelProto model;
            try
            {
                model = global::Onnx.ModelProto.Parser.ParseFrom(graph);
            }
            catch (Google.Protobuf.InvalidProtocolBufferException)
            {
                continue;
            }
            if (FeaturizerGraph.TryDescribe(model, out var name, out int size, out int channels))
                found.Add((entry.FullName, new ClassifierTrunk(graph, name, size, channels)));
        }
        return found.Count == 1 ? found[0] : null;
    }

    /// <summary>The ONNX bytes of an "OnnxModel" entry (an int32 length, then the graph), or null when it is not so shaped.</summary>
    internal static byte[]? ReadOnnxEntry(ZipArchiveEntry entry)
    {
        if (entry.Length <= 4 || entry.Length > int.MaxValue)
            return null;
        var bytes = new byte[entry.Length];
        using (var stream = entry.Open())
            stream.ReadExactly(bytes);
        int length = BinaryPrimitives.ReadInt32LittleEndian(bytes);
        return length == bytes.Length - 4 ? bytes[4..] : null;
    }
}

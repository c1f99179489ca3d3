using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Trainers;
using Microsoft.ML.Transforms.Onnx;
using MLNetClassify.Backbones;
using MLNetClassify.Featurization;
using MLNetClassify.Heads;
using MLNetClassify.Images;
using MLNetClassify.Perceptrons;
using MLNetClassify.Models;
using MLNetClassify.Serving;
using MLNetClassify.Explanations;
using MLNetClassify.Export;
using MLNetClassify.Pooling;
using MLNetClassify.Training;

namespace MLNetClassify;

/// <summary>
/// Everything MLNetClassify adds to ML.NET, in one place: <c>mlContext.ImageClassification()</c>. Transforms take
/// <c>outputColumnName</c> first; trainers take <c>labelColumnName</c> then the input column, and each has a simple
/// overload and an options overload, as ML.NET's own catalogs do.
/// </summary>
/// <remarks>
/// ML.NET's extension packages hang their estimators on <c>mlContext.Transforms</c> and
/// <c>mlContext.MulticlassClassification.Trainers</c>; an outside assembly cannot, because those catalogs expose
/// their environment only through the internal <c>IInternalCatalog</c> (Microsoft.ML 5.0.1).
/// </remarks>
public sealed class ImageClassificationCatalog
{
    private readonly MLContext _mlContext;

    internal ImageClassificationCatalog(MLContext mlContext) => _mlContext = mlContext;

    // ---- Transforms ----

    /// <summary>
    /// Image in, the backbone's pooled features out, one row at a time (stock transforms; the featurizer graph is saved
    /// inside the model). For bulk work outside a pipeline, <see cref="CreateFeaturizer"/> batches.
    /// </summary>
    /// <param name="outputColumnName">Feature column to add: a vector of the backbone's channel count (512 for ResNet18).</param>
    /// <param name="inputColumnName">Image path (text) or <see cref="MLImage"/> column; "ImagePath" when null.</param>
    /// <param name="backbone">The backbone; the embedded ResNet18 when null.</param>
    /// <param name="imageFolder">Folder that relative paths are resolved against; null when paths are absolute.</param>
    /// <param name="device">Where the backbone runs (CPU by default); CUDA falls back to the CPU unless <paramref name="requireDevice"/>.</param>
    /// <param name="requireDevice">Fail instead of falling back when the device cannot be used.</param>
    public IEstimator<TransformerChain<ITransformer>> FeaturizeImages(string outputColumnName = "Features", string? inputColumnName = null,
        BackboneSpec? backbone = null, string? imageFolder = null, ExecutionDevice device = default, bool requireDevice = false) =>
        new ImageFeaturizingEstimator(_mlContext, outputColumnName, inputColumnName ?? "ImagePath", backbone ?? BackboneCatalog.ResNet18, imageFolder, device, requireDevice);

    /// <summary>
    /// Image in, the backbone's last unpooled feature map out (C×H×W floats; 512×7×7 for ResNet18 at 224), row by
    /// row; follow it with <see cref="GlobalPooling"/>. Any input size works: pass e.g. <c>BackboneCatalog.ResNet18AtSize(160)</c>.
    /// </summary>
    /// <param name="outputColumnName">Feature-map column to add.</param>
    /// <param name="inputColumnName">Image path (text) or <see cref="MLImage"/> column; "ImagePath" when null.</param>
    /// <param name="backbone">The backbone; the embedded ResNet18 when null.</param>
    /// <param name="imageFolder">Folder that relative paths are resolved against; null when paths are absolute.</param>
    /// <param name="device">Where the backbone runs (CPU by default).</param>
    /// <param name="requireDevice">Fail instead of falling back when the device cannot be used.</param>
    public IEstimator<TransformerChain<ITransformer>> FeatureMaps(string outputColumnName = "FeatureMap", string? inputColumnName = null,
        BackboneSpec? backbone = null, string? imageFolder = null, ExecutionDevice device = default, bool requireDevice = false) =>
        new ImageFeaturizingEstimator(_mlContext, outputColumnName, inputColumnName ?? "ImagePath", backbone ?? BackboneCatalog.ResNet18, imageFolder, device, requireDevice, featureMap: true);

    /// <summary>Global pooling of a C×H×W feature-map column into C values (2·C for average‖max), saved as a small ONNX graph.</summary>
    /// <param name="outputColumnName">The pooled column to add (its name must differ from the input's).</param>
    /// <param name="inputColumnName">The feature-map column; "FeatureMap" when null.</param>
    /// <param name="kind">Average (default), max, or both concatenated.</param>
    public IEstimator<OnnxTransformer> GlobalPooling(string outputColumnName = "Features", string? inputColumnName = null, GlobalPoolingKind kind = GlobalPoolingKind.Average) =>
        new GlobalPoolingEstimator(_mlContext, outputColumnName, inputColumnName ?? "FeatureMap", kind);

    // ---- Trainers ----

    /// <summary>A fully connected softmax layer trained on a feature column, emitted as ML.NET's stock softmax-regression transformer.</summary>
    /// <param name="labelColumnName">Key column with the labels.</param>
    /// <param name="featureColumnName">Known-size float vector column.</param>
    /// <param name="l2">L2 penalty on the weights.</param>
    /// <param name="epochs">Most passes over the training rows (early stopping usually ends sooner).</param>
    public SoftmaxHeadEstimator SoftmaxHead(string labelColumnName = "Label", string featureColumnName = "Features", float l2 = 1e-2f, int epochs = 100) =>
        SoftmaxHead(new SoftmaxHeadOptions { LabelColumnName = labelColumnName, FeatureColumnName = featureColumnName, L2 = l2, Epochs = epochs });

    /// <summary>A fully connected softmax layer, with every option.</summary>
    /// <param name="options">Columns and training options.</param>
    public SoftmaxHeadEstimator SoftmaxHead(SoftmaxHeadOptions options) => new(_mlContext, options);

    /// <summary>
    /// Image + label key → pretrained backbone features (batched while training) → softmax head, in one estimator.
    /// </summary>
    /// <param name="labelColumnName">Key column with the labels.</param>
    /// <param name="imageColumnName">Image path (text) or <see cref="MLImage"/> column.</param>
    /// <param name="backbone">The backbone; the embedded ResNet18 when null.</param>
    /// <param name="imageFolder">Folder that relative paths are resolved against; null when paths are absolute.</param>
    public ImageClassifierEstimator Classifier(string labelColumnName = "Label", string imageColumnName = "ImagePath", BackboneSpec? backbone = null, string? imageFolder = null) =>
        Classifier(new ImageClassifierOptions
        {
            LabelColumnName = labelColumnName,
            ImageColumnName = imageColumnName,
            Backbone = backbone ?? BackboneCatalog.ResNet18,
            ImageFolder = imageFolder,
        });

    /// <summary>Image + label key → pretrained features → softmax head, with every option.</summary>
    /// <param name="options">Columns, backbone, featurizer and head options.</param>
    public ImageClassifierEstimator Classifier(ImageClassifierOptions options) => new(_mlContext, options);

    /// <summary>
    /// A perceptron on raw pixels, no backbone (the baseline that shows what CNN features add): the single-layer
    /// perceptron on 128×128 pixels, or an MLP with <paramref name="hiddenLayers"/> ReLU layers.
    /// </summary>
    /// <param name="labelColumnName">Key column with the labels.</param>
    /// <param name="imageColumnName">Image path (text) or <see cref="MLImage"/> column.</param>
    /// <param name="imageSize">Side S the images are resized to (3·S·S inputs).</param>
    /// <param name="hiddenLayers">Hidden ReLU layer sizes; none for the single-layer perceptron.</param>
    /// <param name="imageFolder">Folder that relative paths are resolved against; null when paths are absolute.</param>
    public PixelPerceptronEstimator PixelPerceptron(string labelColumnName = "Label", string imageColumnName = "ImagePath",
        int imageSize = 128, IReadOnlyList<int>? hiddenLayers = null, string? imageFolder = null) =>
        PixelPerceptron(new PerceptronOptions
        {
            LabelColumnName = labelColumnName,
            ImageColumnName = imageColumnName,
            ImageSize = imageSize,
            HiddenLayers = hiddenLayers ?? [],
            ImageFolder = imageFolder,
        });

    /// <summary>A perceptron on raw pixels, with every option (presets: <see cref="PerceptronOptions.SingleLayer"/>, <see cref="PerceptronOptions.MultiLayer"/>).</summary>
    /// <param name="options">Columns, image size, layers and training options.</param>
    public PixelPerceptronEstimator PixelPerceptron(PerceptronOptions options) => new(_mlContext, options);

    // ---- Outside a pipeline ----

    /// <summary>A batched featurizer for bulk work outside a pipeline (owns an ONNX Runtime session: dispose it).</summary>
    /// <param name="backbone">The backbone; the embedded ResNet18 when null.</param>
    /// <param name="options">Batch size, threads, device, cache folder.</param>
    public ImageFeaturizer CreateFeaturizer(BackboneSpec? backbone = null, FeaturizerOptions? options = null) =>
        new(_mlContext, backbone ?? BackboneCatalog.ResNet18, options);

    /// <summary>
    /// Saves with stock <c>mlContext.Model.Save</c> to a temporary file beside <paramref name="path"/>, then renames it
    /// over <paramref name="path"/>: a reader never sees half a model.
    /// </summary>
    /// <param name="model">The fitted model.</param>
    /// <param name="inputSchema">The schema the model takes.</param>
    /// <param name="path">The zip to write.</param>
    public void SaveModel(ITransformer model, DataViewSchema inputSchema, string path) => ModelFiles.Save(_mlContext, model, inputSchema, path);

    /// <summary>
    /// Saves what scoring needs, atomically: a workflow model (<c>ClassifierWorkflow.Train</c>, the CLI's zips) without its
    /// leading label → key mapping, so that the saved model's input is the image column alone and an app's input class
    /// needs no <c>Label</c>. Stock <c>mlContext.Model.Load</c> reads it; it scores exactly as the whole model. Evaluation
    /// with ML.NET's evaluator needs the whole model (its <c>LabelKey</c> column). Other models are saved as they are.
    /// </summary>
    /// <param name="model">The fitted or loaded model.</param>
    /// <param name="inputSchema">Its input schema (from training, or from <see cref="LoadModel"/>).</param>
    /// <param name="path">The zip to write.</param>
    public void SaveScoringModel(ITransformer model, DataViewSchema inputSchema, string path)
    {
        var (scoring, schema) = ModelFiles.ScoringOnly(model, inputSchema);
        ModelFiles.Save(_mlContext, scoring, schema, path);
    }

    /// <summary>
    /// Loads a model zip with stock <c>mlContext.Model.Load</c> (so any MLNetClassify zip also loads without this
    /// library), with errors that name the file; with <paramref name="warmUp"/>, scores a few generated images so the
    /// first real prediction does not pay ONNX Runtime's first-run costs.
    /// </summary>
    /// <param name="path">The model zip.</param>
    /// <param name="inputSchema">The input schema saved with the model.</param>
    /// <param name="warmUp">Warm the model up after loading.</param>
    /// <exception cref="FileNotFoundException">No such file.</exception>
    /// <exception cref="InvalidDataException">The file is not an ML.NET model zip.</exception>
    public ITransformer LoadModel(string path, out DataViewSchema inputSchema, bool warmUp = false)
    {
        var model = ModelFiles.Load(_mlContext, path, out inputSchema);
        if (warmUp)
            ModelWarmUp.Run(_mlContext, model, inputSchema);
        return model;
    }

    /// <summary>
    /// Makes the ONNX steps of models loaded afterwards with this context run on <paramref name="device"/> (ML.NET's
    /// GpuDeviceId and FallbackToCpu). When CUDA cannot start, the CPU is used and the reason returned, naming the
    /// missing library; with <paramref name="requireDevice"/> that is an error instead.
    /// </summary>
    /// <param name="device">The CPU, or a CUDA device.</param>
    /// <param name="requireDevice">Fail instead of falling back to the CPU.</param>
    /// <returns>Why the CPU is used instead of <paramref name="device"/>; null when the device is used.</returns>
    /// <exception cref="InvalidOperationException">CUDA was required and cannot start.</exception>
    public string? UseDevice(ExecutionDevice device, bool requireDevice = false) => ExecutionDevices.Configure(_mlContext, device, requireDevice);

    /// <summary>
    /// Decodes an upload as training decodes it: header first, refused over <paramref name="maxPixels"/>, a large JPEG
    /// DCT-scaled to just cover <paramref name="inputSize"/>, turned upright by its EXIF orientation, a truncated file
    /// refused unless <paramref name="acceptIncomplete"/>. PNG, JPEG, GIF (first frame), BMP and WebP. Score the result
    /// with an engine from <see cref="CreatePredictionEngine{TSrc, TDst}"/>; dispose it after. Streams and bytes: <see cref="DecodeImageFromStream"/>.
    /// </summary>
    /// <param name="path">The image file.</param>
    /// <param name="inputSize">The model's input side (224 for ResNet18; the backbone's resize size for others).</param>
    /// <param name="maxPixels">Images with more pixels are refused from their header (100 megapixels by default).</param>
    /// <param name="acceptIncomplete">Use what decodes of a truncated file.</param>
    /// <exception cref="InvalidDataException">The file cannot be used; the message names it and says why.</exception>
    public MLImage DecodeImage(string path, int inputSize = 224, long maxPixels = ImageDecoding.DefaultMaxPixels, bool acceptIncomplete = false)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var decoded = ImageDecoder.Decode(path, inputSize, new ImageDecoding(maxPixels, acceptIncomplete));
        return decoded.Image ?? throw new InvalidDataException($"{path}: {decoded.Problem}");
    }

    /// <summary>Decodes an upload held in a stream (bytes: wrap them in a MemoryStream), as <see cref="DecodeImage"/> does a file.</summary>
    /// <param name="image">The encoded image, read from its current position.</param>
    /// <param name="inputSize">The model's input side (224 for ResNet18).</param>
    /// <param name="maxPixels">Images with more pixels are refused from their header.</param>
    /// <param name="acceptIncomplete">Use what decodes of a truncated image.</param>
    /// <exception cref="InvalidDataException">The data cannot be used; the message says why.</exception>
    public MLImage DecodeImageFromStream(Stream image, int inputSize = 224, long maxPixels = ImageDecoding.DefaultMaxPixels, bool acceptIncomplete = false)
    {
        ArgumentNullException.ThrowIfNull(image);
        var decoded = ImageDecoder.Decode(image, inputSize, new ImageDecoding(maxPixels, acceptIncomplete));
        return decoded.Image ?? throw new InvalidDataException($"The uploaded image cannot be used: {decoded.Problem}");
    }

    /// <summary>
    /// A stock ML.NET PredictionEngine over <paramref name="model"/>'s steps after its image loader, taking the
    /// <see cref="MLImage"/> property of <typeparamref name="TSrc"/> where the loader's output would be: feed it images
    /// from <c>DecodeImage</c>, and the model sees the pixels training saw. (A plain engine fed paths runs ML.NET's
    /// loader: full-size decode, EXIF orientation ignored.) The engine never owns the model, so several engines (one per
    /// thread: an engine is not thread-safe) can share it, and disposing one leaves the model usable.
    /// </summary>
    /// <typeparam name="TSrc">Input class with one <see cref="MLImage"/> property (declare a size with ImageType; any size works),
    /// and the other input columns the model reads (a workflow model maps a Label text column first: give it one).</typeparam>
    /// <typeparam name="TDst">Output class (Score, PredictedLabelValue, ...).</typeparam>
    /// <param name="model">A fitted or loaded image classifier.</param>
    /// <param name="inputSchema">The schema saved with the model (from <see cref="LoadModel"/>); null: ImagePath and Label text columns.</param>
    /// <exception cref="ArgumentException"><typeparamref name="TSrc"/> has no MLImage property.</exception>
    public PredictionEngine<TSrc, TDst> CreatePredictionEngine<TSrc, TDst>(ITransformer model, DataViewSchema? inputSchema = null)
        where TSrc : class
        where TDst : class, new()
    {
        var imageProperty = typeof(TSrc).GetProperties().FirstOrDefault(p => p.PropertyType == typeof(MLImage))
            ?? throw new ArgumentException($"{typeof(TSrc).Name} has no MLImage property for the decoded image.", nameof(TSrc));
        var (steps, imageColumn) = DecodedImageScorer.AfterLoader(_mlContext, model, inputSchema);
        var schema = SchemaDefinition.Create(typeof(TSrc));
        schema.First(c => c.MemberName == imageProperty.Name).ColumnName = imageColumn;
        return _mlContext.Model.CreatePredictionEngine<TSrc, TDst>(steps, new PredictionEngineOptions { OwnsTransformer = false, InputSchemaDefinition = schema });
    }

    /// <summary>
    /// A thread-safe scorer for services over the model zip at <paramref name="modelPath"/>: up to
    /// <paramref name="maxEngines"/> images scored at once (0: one per core) for all callers, images decoded as
    /// training decoded them, <see cref="ImageClassifierPool.Reload"/> for a new version of the zip. A classifier zip
    /// of the library's is scored through one shared ONNX Runtime session; any other zip through that many ML.NET
    /// prediction engines. Dispose it to release the model's ONNX sessions.
    /// </summary>
    /// <param name="modelPath">A zip saved by this library (loaded with stock ML.NET).</param>
    /// <param name="maxEngines">The most images scored at once (and engines alive); callers beyond it wait.</param>
    /// <param name="maxPixels">Images with more pixels are refused from their header.</param>
    /// <exception cref="FileNotFoundException">No such model file.</exception>
    /// <exception cref="InvalidDataException">The file is not a model zip, an entry of it is damaged (named), or the model cannot score images.</exception>
    public ImageClassifierPool CreatePool(string modelPath, int maxEngines = 0, long maxPixels = ImageDecoding.DefaultMaxPixels) =>
        new(_mlContext, modelPath, maxEngines, new ImageDecoding(maxPixels, false));

    /// <summary>
    /// Class activation maps of the images at <paramref name="imagePaths"/> from the model zip at
    /// <paramref name="modelPath"/>: for each image, where in it the evidence for <paramref name="className"/> (the
    /// predicted class when null) lies, as the head's weights applied to the backbone's unpooled last feature map
    /// (exact: the map's mean is the class's logit minus its bias). Unreadable images get a map with no values and the
    /// reason.
    /// </summary>
    /// <exception cref="FileNotFoundException">No such model file.</exception>
    /// <exception cref="InvalidDataException">The model is not a softmax head on globally averaged backbone features (a pixel perceptron, say).</exception>
    /// <exception cref="ArgumentException"><paramref name="className"/> is not one of the model's classes.</exception>
    public IReadOnlyList<ClassActivationMap> ClassActivationMaps(string modelPath, IReadOnlyList<string> imagePaths, string? className = null)
    {
        using var mapper = ClassActivationMapper.Open(_mlContext, modelPath);
        return mapper.Explain(imagePaths, className);
    }

    /// <summary>
    /// Writes the model zip at <paramref name="modelPath"/> as one ONNX file that any ONNX Runtime host runs without
    /// .NET: input <c>image</c>, uint8 [N, H, W, 3] RGB of any size (resized bilinearly inside); outputs
    /// <c>probabilities</c> [N, classes] and <c>predicted_index</c> [N]; the class names (metadata <c>labels</c>, JSON),
    /// the input contract and the provenance in the metadata. Returns the class names.
    /// </summary>
    /// <exception cref="FileNotFoundException">No such model file.</exception>
    /// <exception cref="InvalidDataException">The model is not a softmax head on an MLNetClassify featurizer graph.</exception>
    public IReadOnlyList<string> ExportOnnx(string modelPath, string onnxPath) => OnnxExport.Export(_mlContext, modelPath, onnxPath).Classes;

    /// <summary>The class names of a fitted or loaded classifier, in Score order (the Score column's slot names).</summary>
    /// <param name="model">A model with a Score column that carries slot names (every classifier of this library).</param>
    /// <exception cref="ArgumentException">The model has no Score column with slot names.</exception>
    public IReadOnlyList<string> ClassNames(ITransformer model) => ModelInfo.Classes(_mlContext, model);
}

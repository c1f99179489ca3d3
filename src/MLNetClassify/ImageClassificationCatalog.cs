using MLNetClassify.Backbones;
using MLNetClassify.Featurization;
using MLNetClassify.Heads;
using MLNetClassify.Perceptrons;
using MLNetClassify.Pooling;
using MLNetClassify.Training;
using Microsoft.ML;

namespace MLNetClassify;

/// <summary>
/// Everything MLNetClassify adds to ML.NET, in one place: <c>mlContext.ImageClassification()</c>.
/// </summary>
public sealed class ImageClassificationCatalog
{
    private readonly MLContext _mlContext;

    internal ImageClassificationCatalog(MLContext mlContext) => _mlContext = mlContext;

    /// <summary>
    /// Image in, backbone features out, one row at a time (stock transforms; saved inside the model).
    /// </summary>
    /// <param name="outputColumnName">Feature column to add (a vector of the backbone's channel count).</param>
    /// <param name="inputColumnName">Image path (text) or <see cref="Microsoft.ML.Data.MLImage"/> column; defaults to "ImagePath".</param>
    /// <param name="backbone">The backbone; the embedded ResNet18 by default.</param>
    /// <param name="imageFolder">Folder for relative paths; null when paths are absolute.</param>
    /// <param name="device">Where the backbone runs (CPU by default); CUDA falls back to the CPU unless <paramref name="requireDevice"/>.</param>
    /// <param name="requireDevice">Fail instead of falling back when the device cannot be used.</param>
    public ImageFeaturizingEstimator FeaturizeImages(string outputColumnName = "Features", string? inputColumnName = null, BackboneSpec? backbone = null,
        string? imageFolder = null, ExecutionDevice device = default, bool requireDevice = false) =>
        new(_mlContext, outputColumnName, inputColumnName ?? "ImagePath", backbone ?? BackboneCatalog.ResNet18, imageFolder, device, requireDevice);

    /// <summary>
    /// Image in, the backbone's last unpooled feature map out (C×H×W floats; for ResNet18 at 224, 512×7×7), row by
    /// row; follow it with <see cref="GlobalPooling"/>. Any input size works: pass e.g. <c>BackboneCatalog.ResNet18AtSize(160)</c>.
    /// </summary>
    public ImageFeaturizingEstimator FeatureMaps(string outputColumnName = "FeatureMap", string? inputColumnName = null, BackboneSpec? backbone = null,
        string? imageFolder = null, ExecutionDevice device = default, bool requireDevice = false) =>
        new(_mlContext, outputColumnName, inputColumnName ?? "ImagePath", backbone ?? BackboneCatalog.ResNet18, imageFolder, device, requireDevice, featureMap: true);

    /// <summary>Global pooling of a C×H×W feature-map column into C values (2·C for average‖max).</summary>
    /// <param name="outputColumnName">The pooled column to add.</param>
    /// <param name="inputColumnName">The feature-map column.</param>
    /// <param name="kind">Average (default), max, or both concatenated.</param>
    public GlobalPoolingEstimator GlobalPooling(string outputColumnName = "Features", string inputColumnName = "FeatureMap", GlobalPoolingKind kind = GlobalPoolingKind.Average) =>
        new(_mlContext, outputColumnName, inputColumnName, kind);

    /// <summary>A fully connected softmax layer trained on a feature column, emitted as ML.NET's stock softmax-regression transformer.</summary>
    /// <param name="labelColumnName">Key column with the labels.</param>
    /// <param name="featureColumnName">Known-size float vector column.</param>
    /// <param name="options">Training options; defaults when null.</param>
    public SoftmaxHeadEstimator SoftmaxHead(string labelColumnName = "Label", string featureColumnName = "Features", SoftmaxHeadOptions? options = null) =>
        new(_mlContext, labelColumnName, featureColumnName, options);

    /// <summary>
    /// Image + label key → pretrained features (batched while training) → softmax head, in one estimator.
    /// </summary>
    /// <param name="labelColumnName">Key column with the labels.</param>
    /// <param name="imageColumnName">Image path (text) or <see cref="Microsoft.ML.Data.MLImage"/> column.</param>
    public ImageClassifierEstimator Classifier(string labelColumnName = "Label", string imageColumnName = "ImagePath") =>
        Classifier(new ImageClassifierOptions { LabelColumnName = labelColumnName, ImageColumnName = imageColumnName });

    /// <summary>Image + label key → pretrained features → softmax head, with every option.</summary>
    public ImageClassifierEstimator Classifier(ImageClassifierOptions options) => new(_mlContext, options);

    /// <summary>
    /// A perceptron on raw pixels, no backbone: the single-layer perceptron by default
    /// (<see cref="PerceptronOptions.SingleLayer"/>), or an MLP with hidden ReLU layers (<see cref="PerceptronOptions.MultiLayer"/>).
    /// </summary>
    /// <param name="labelColumnName">Key column with the labels.</param>
    /// <param name="imageColumnName">Image path (text) or <see cref="Microsoft.ML.Data.MLImage"/> column.</param>
    /// <param name="options">Image size, layers and training options; the single-layer defaults when null.</param>
    /// <param name="imageFolder">Folder for relative paths; null when paths are absolute.</param>
    public PixelPerceptronEstimator PixelPerceptron(string labelColumnName = "Label", string imageColumnName = "ImagePath",
        PerceptronOptions? options = null, string? imageFolder = null) =>
        new(_mlContext, labelColumnName, imageColumnName, options, imageFolder);

    /// <summary>A batched featurizer for bulk work outside a pipeline (owns an ONNX Runtime session: dispose it).</summary>
    public ImageFeaturizer CreateFeaturizer(BackboneSpec? backbone = null, FeaturizerOptions? options = null) =>
        new(_mlContext, backbone ?? BackboneCatalog.ResNet18, options);
}

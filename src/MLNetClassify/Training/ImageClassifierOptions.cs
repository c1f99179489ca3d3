using MLNetClassify.Backbones;
using MLNetClassify.Featurization;
using MLNetClassify.Heads;

namespace MLNetClassify.Training;

/// <summary>Options for <see cref="ImageClassifierEstimator"/>.</summary>
public sealed record ImageClassifierOptions
{
    /// <summary>Key column with the labels (map text labels with MapValueToKey first).</summary>
    public string LabelColumnName { get; init; } = "Label";

    /// <summary>Image column: paths (text) or in-memory images (<see cref="Microsoft.ML.Data.MLImage"/>).</summary>
    public string ImageColumnName { get; init; } = "ImagePath";

    /// <summary>Folder that relative image paths are resolved against; null when paths are absolute.</summary>
    public string? ImageFolder { get; init; }

    /// <summary>Name of the feature column the model adds.</summary>
    public string FeatureColumnName { get; init; } = "Features";

    /// <summary>The pretrained backbone; the embedded ResNet18 by default.</summary>
    public BackboneSpec Backbone { get; init; } = BackboneCatalog.ResNet18;

    /// <summary>How the softmax head is trained.</summary>
    public SoftmaxHeadOptions Head { get; init; } = new();

    /// <summary>How training images are featurized (batching, threads).</summary>
    public FeaturizerOptions Featurizer { get; init; } = new();

    /// <summary>
    /// Train even when a class of the label key has no usable training image (none listed, or every one unreadable):
    /// the model then knows the class but never predicts it with confidence. Off by default: such a class is an error
    /// that names it, as it usually means wrong paths in a split file.
    /// </summary>
    public bool AllowEmptyClasses { get; init; }

}

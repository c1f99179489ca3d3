using Microsoft.ML.Data;
using Microsoft.ML.Transforms.Image;

namespace MLNetClassify.Data;

/// <summary>One image file and its label; also the row type of the IDataViews that folders and manifests load into.</summary>
public sealed class LabeledImage
{
    /// <summary>Creates a row.</summary>
    public LabeledImage(string imagePath, string label)
    {
        ImagePath = imagePath;
        Label = label;
    }

    /// <summary>For ML.NET's row binding.</summary>
    public LabeledImage()
    {
    }

    /// <summary>Absolute path of the image file.</summary>
    public string ImagePath { get; set; } = "";

    /// <summary>The label as text (the sub-folder name for folder data sets).</summary>
    public string Label { get; set; } = "";

    /// <inheritdoc/>
    public override string ToString() => $"{Label}: {ImagePath}";
}

/// <summary>An image held in memory and its label: the row type of in-memory IDataViews.</summary>
internal sealed class InMemoryImage
{
    /// <summary>The decoded image (declared 224×224 for ML.NET's schema; any size works, the resize step sets it).</summary>
    [ImageType(224, 224)]
    public MLImage? Image { get; set; }

    /// <summary>The label as text.</summary>
    public string Label { get; set; } = "";
}

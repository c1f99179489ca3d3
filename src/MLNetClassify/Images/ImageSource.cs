using Microsoft.ML.Data;

namespace MLNetClassify.Images;

/// <summary>Where one image comes from: a file, or an image already in memory.</summary>
internal sealed class ImageSource
{
    private ImageSource(string? path, MLImage? image, string name)
    {
        Path = path;
        Image = image;
        Name = name;
    }

    /// <summary>The file, when the image is read from disk.</summary>
    public string? Path { get; }

    /// <summary>The decoded image, when it is in memory (not owned: the caller disposes it).</summary>
    public MLImage? Image { get; }

    /// <summary>How messages name this image (the path, or the caller's name for it).</summary>
    public string Name { get; }

    /// <summary>An image file.</summary>
    public static ImageSource FromFile(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        return new ImageSource(path, null, path);
    }

    /// <summary>An image in memory; <paramref name="name"/> identifies it in messages.</summary>
    public static ImageSource FromImage(MLImage image, string name)
    {
        ArgumentNullException.ThrowIfNull(image);
        return new ImageSource(null, image, name);
    }

    /// <inheritdoc/>
    public override string ToString() => Name;
}

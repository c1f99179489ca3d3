namespace MLNetClassify.Data;

/// <summary>
/// The image files a head trained on, with their content hashes (hex SHA-256) where featurization already computed
/// them (the feature cache does), so listing them in a model zip hashes only the others, once.
/// </summary>
internal sealed class TrainedImageList(IReadOnlyList<string> paths, IReadOnlyList<string?> contentHashes)
{
    private IReadOnlyList<string>? _keys;

    /// <summary>The files, in training-row order.</summary>
    public IReadOnlyList<string> Paths { get; } = paths;

    /// <summary>Each file's key (<see cref="Key"/>), in the order of <see cref="Paths"/>; files are hashed on first use.</summary>
    /// <exception cref="IOException">A file that must be hashed cannot be read.</exception>
    public IReadOnlyList<string> Keys => _keys ??= Paths.Select((path, i) => Key(contentHashes[i] ?? ContentHash.Of(path))).ToList();

    /// <summary>How a zip's list names an image: the first 128 bits of its content's SHA-256, in hex.</summary>
    public static string Key(string contentHash) => contentHash[..32];
}

namespace MLNetClassify.Data;

/// <summary>
/// The image files a head trained on, with their content hashes (hex SHA-256) where featurization already computed
/// them (the feature cache does), so listing them in a model zip hashes only the others.
/// </summary>
internal sealed record TrainedImageList(IReadOnlyList<string> Paths, IReadOnlyList<string?> ContentHashes)
{
    /// <summary>Each image's key (<see cref="Key"/>), in order.</summary>
    /// <exception cref="IOException">A file that must be hashed cannot be read.</exception>
    public IEnumerable<string> Keys() => Paths.Select((path, i) => Key(ContentHashes[i] ?? ContentHash.Of(path)));

    /// <summary>How a zip's list names an image: the first 128 bits of its content's SHA-256, in hex.</summary>
    public static string Key(string contentHash) => contentHash[..32];
}

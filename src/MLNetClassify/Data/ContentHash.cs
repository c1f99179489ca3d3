using System.Security.Cryptography;

namespace MLNetClassify.Data;

/// <summary>The one way files are fingerprinted: SHA-256 of their bytes as lowercase hex (cache keys, split checks, shard and export headers).</summary>
internal static class ContentHash
{
    /// <summary>Hex SHA-256 of the file's bytes, streamed.</summary>
    /// <exception cref="IOException">The file cannot be read.</exception>
    public static string Of(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }
}

using System.Security.Cryptography;

namespace TempMe.Pipeline.Indexing.Sources;

/// <summary>SHA-256 of a file's bytes, the identity of a video's content.</summary>
public static class ContentHash
{
    /// <summary>Lower-case hex SHA-256 of the file.</summary>
    public static async Task<string> OfFileAsync(string path, CancellationToken cancellationToken)
    {
        await using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous | FileOptions.SequentialScan);
        return Convert.ToHexStringLower(await SHA256.HashDataAsync(stream, cancellationToken));
    }
}

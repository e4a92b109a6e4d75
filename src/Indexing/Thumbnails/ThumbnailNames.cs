using System.Buffers;

namespace TempMe.Pipeline.Indexing.Thumbnails;

/// <summary>
/// Where a video's thumbnail lives in the output store: <c>thumbnails/ab/abcdef….jpg</c>, named by the content SHA-256,
/// so every copy of the same bytes shares one file and a thumbnail, once written, never changes.
/// </summary>
public static class ThumbnailNames
{
    /// <summary>Folder of the thumbnails under the output root.</summary>
    public const string Folder = "thumbnails";

    /// <summary>The file extension of a thumbnail.</summary>
    public const string Extension = ".jpg";

    private static readonly SearchValues<char> LowerHex = SearchValues.Create("0123456789abcdef");

    /// <summary>True when <paramref name="sha256"/> is exactly 64 lower-case hex digits (the form the pipeline writes).</summary>
    public static bool IsContentHash(string? sha256) =>
        sha256 is { Length: 64 } && !sha256.AsSpan().ContainsAnyExcept(LowerHex);

    /// <summary>The store name of the thumbnail of <paramref name="sha256"/>; throws for anything but a content hash.</summary>
    public static string For(string sha256)
    {
        if (!IsContentHash(sha256))
        {
            throw new ArgumentException("A thumbnail is named by a 64-digit lower-case hex SHA-256.", nameof(sha256));
        }

        return $"{Folder}/{sha256[..2]}/{sha256}{Extension}";
    }

    /// <summary>
    /// The content hash named by a request's file name <c>SHA.jpg</c> (64 hex digits, then <c>.jpg</c>), or null for
    /// anything else: the only names a thumbnail endpoint accepts, so no request can reach another file.
    /// </summary>
    public static string? HashOfFileName(string? fileName)
    {
        if (fileName is null || !fileName.EndsWith(Extension, StringComparison.Ordinal))
        {
            return null;
        }

        var sha = fileName[..^Extension.Length];
        return IsContentHash(sha) ? sha : null;
    }

    /// <summary>True when <paramref name="name"/> is the thumbnail name of <paramref name="sha256"/> (a metadata row's claim is checked, not trusted).</summary>
    public static bool IsNameOf(string? name, string? sha256) => IsContentHash(sha256) && name == For(sha256!);
}

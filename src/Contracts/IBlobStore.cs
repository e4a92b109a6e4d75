namespace TempMe.Pipeline.Contracts;

/// <summary>One entry of a blob listing.</summary>
/// <param name="Name">Name relative to the store's root prefix, with '/' separators.</param>
/// <param name="Size">Length in bytes.</param>
/// <param name="LastModified">Last modification time.</param>
/// <param name="ETag">Opaque version tag, when the store has one.</param>
public sealed record BlobItem(string Name, long Size, DateTimeOffset LastModified, string? ETag = null);

/// <summary>
/// A flat namespace of blobs under one root: a local folder or an Azure Blob container prefix.
/// Writes are whole-object and atomic from a reader's point of view (temporary name then rename, or a committed block list),
/// so a crash never leaves a half-written blob under its final name.
/// </summary>
public interface IBlobStore
{
    /// <summary>A display form of the root, free of secrets.</summary>
    string DisplayName { get; }

    /// <summary>Lists blobs whose name starts with <paramref name="prefix"/>, in name order.</summary>
    IAsyncEnumerable<BlobItem> ListAsync(string prefix, CancellationToken cancellationToken);

    /// <summary>Opens a blob for reading; throws <see cref="FileNotFoundException"/> when it does not exist.</summary>
    Task<Stream> OpenReadAsync(string name, CancellationToken cancellationToken);

    /// <summary>Writes a blob atomically, replacing any previous content.</summary>
    Task WriteAsync(string name, Stream content, CancellationToken cancellationToken);

    /// <summary>Returns the blob's properties or null when it does not exist.</summary>
    Task<BlobItem?> GetPropertiesAsync(string name, CancellationToken cancellationToken);

    /// <summary>Deletes a blob; deleting a missing blob is not an error.</summary>
    Task DeleteAsync(string name, CancellationToken cancellationToken);
}

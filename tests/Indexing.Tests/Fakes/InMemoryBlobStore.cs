using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using TempMe.Pipeline.Contracts;

namespace TempMe.Pipeline.Indexing.Tests.Fakes;

/// <summary>An output store in memory, so the pipeline tests can read the parts written without a folder.</summary>
internal sealed class InMemoryBlobStore : IBlobStore
{
    /// <summary>The blobs by name.</summary>
    public ConcurrentDictionary<string, byte[]> Blobs { get; } = new(StringComparer.Ordinal);

    /// <summary>Runs before each write, with the blob's name: a test holds a write back with it (a slow upload).</summary>
    public Func<string, CancellationToken, Task>? BeforeWrite { get; set; }

    /// <inheritdoc />
    public string DisplayName => "memory";

    /// <inheritdoc />
    public async IAsyncEnumerable<BlobItem> ListAsync(string prefix, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await Task.CompletedTask;
        foreach (var (name, bytes) in Blobs.Where(b => b.Key.StartsWith(prefix, StringComparison.Ordinal)).OrderBy(b => b.Key, StringComparer.Ordinal))
        {
            yield return new BlobItem(name, bytes.Length, DateTimeOffset.UnixEpoch);
        }
    }

    /// <inheritdoc />
    public Task<Stream> OpenReadAsync(string name, CancellationToken cancellationToken) =>
        Blobs.TryGetValue(name, out var bytes) ? Task.FromResult<Stream>(new MemoryStream(bytes, writable: false)) : throw new FileNotFoundException($"No blob {name}.", name);

    /// <inheritdoc />
    public async Task WriteAsync(string name, Stream content, CancellationToken cancellationToken)
    {
        if (BeforeWrite is { } hook)
        {
            await hook(name, cancellationToken);
        }

        using var copy = new MemoryStream();
        await content.CopyToAsync(copy, cancellationToken);
        Blobs[name] = copy.ToArray();
    }

    /// <inheritdoc />
    public Task<BlobItem?> GetPropertiesAsync(string name, CancellationToken cancellationToken) =>
        Task.FromResult(Blobs.TryGetValue(name, out var bytes) ? new BlobItem(name, bytes.Length, DateTimeOffset.UnixEpoch) : null);

    /// <inheritdoc />
    public Task DeleteAsync(string name, CancellationToken cancellationToken)
    {
        Blobs.TryRemove(name, out _);
        return Task.CompletedTask;
    }
}

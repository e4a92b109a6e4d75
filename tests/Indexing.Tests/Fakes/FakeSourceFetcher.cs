using System.Collections.Concurrent;
using TempMe.Pipeline.Indexing.Sources;

namespace TempMe.Pipeline.Indexing.Tests.Fakes;

/// <summary>
/// Sources made of given bytes. The pipeline hashes the fetched file, so each source is a real small file in a
/// temporary folder; what is fake is the mapping from source name to file, and the record of fetches.
/// </summary>
internal sealed class FakeSourceFetcher : ISourceFetcher, IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("tempme-fake-sources-").FullName;
    private readonly ConcurrentDictionary<string, string> _files = new(StringComparer.Ordinal);

    /// <summary>Sources fetched, in order.</summary>
    public ConcurrentQueue<string> Fetched { get; } = new();

    /// <summary>Runs after each fetch, with the source fetched.</summary>
    public Action<string>? AfterFetch { get; set; }

    /// <summary>Adds a source whose file holds <paramref name="content"/>; the first byte is what the fake sampler reads.</summary>
    public void Add(string source, params byte[] content)
    {
        var path = Path.Combine(_folder, $"{_files.Count:D5}.bin");
        File.WriteAllBytes(path, content);
        _files[source] = path;
    }

    /// <inheritdoc />
    public Task<ILocalVideo> FetchAsync(string source, CancellationToken cancellationToken)
    {
        if (!_files.TryGetValue(source, out var path))
        {
            throw new FileNotFoundException($"No such fake source {source}.", source);
        }

        Fetched.Enqueue(source);
        AfterFetch?.Invoke(source);
        return Task.FromResult<ILocalVideo>(new LocalFile(path));
    }

    /// <inheritdoc />
    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private sealed record LocalFile(string Path) : ILocalVideo
    {
        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}

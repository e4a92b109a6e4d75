namespace TempMe.Pipeline.Indexing.Sources;

/// <summary>A video available as a local file for the decoder. Disposing it removes any temporary copy.</summary>
public interface ILocalVideo : IAsyncDisposable
{
    /// <summary>Path of a readable local file.</summary>
    string Path { get; }
}

/// <summary>Makes a source video available as a local file: the file itself, or a download of a blob.</summary>
public interface ISourceFetcher
{
    /// <summary>
    /// Returns the video as a local file. Throws <see cref="FileNotFoundException"/> when the source no longer exists;
    /// other I/O failures are transient.
    /// </summary>
    Task<ILocalVideo> FetchAsync(string source, CancellationToken cancellationToken);
}

/// <summary>Sources that already are local files: nothing to download.</summary>
public sealed class LocalFileFetcher : ISourceFetcher
{
    /// <inheritdoc />
    public Task<ILocalVideo> FetchAsync(string source, CancellationToken cancellationToken)
    {
        if (!File.Exists(source))
        {
            throw new FileNotFoundException($"The video {source} no longer exists.", source);
        }

        return Task.FromResult<ILocalVideo>(new LocalVideo(source));
    }

    private sealed record LocalVideo(string Path) : ILocalVideo
    {
        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}

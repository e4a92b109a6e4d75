using System.Diagnostics;
using TempMe.Pipeline.Contracts;
using TempMe.Pipeline.Indexing.Sources;

namespace TempMe.Pipeline.Worker.Gpu;

/// <summary>
/// Time this worker spent downloading sources and uploading parts, measured around the fetcher and the output store
/// it hands to the pipeline (the pipeline's own counters only know fetch + decode together, and encode).
/// Reported with each heartbeat into <c>workers.download_seconds</c> and <c>workers.upload_seconds</c>.
/// </summary>
internal sealed class WorkerTimes
{
    private long _downloadTicks;
    private long _uploadTicks;

    /// <summary>Seconds spent in <see cref="ISourceFetcher.FetchAsync"/> since start.</summary>
    public double DownloadSeconds => TimeSpan.FromTicks(Interlocked.Read(ref _downloadTicks)).TotalSeconds;

    /// <summary>Seconds spent writing to the output store since start.</summary>
    public double UploadSeconds => TimeSpan.FromTicks(Interlocked.Read(ref _uploadTicks)).TotalSeconds;

    /// <summary>Adds download time.</summary>
    public void AddDownload(TimeSpan elapsed) => Interlocked.Add(ref _downloadTicks, elapsed.Ticks);

    /// <summary>Adds upload time.</summary>
    public void AddUpload(TimeSpan elapsed) => Interlocked.Add(ref _uploadTicks, elapsed.Ticks);
}

/// <summary>A fetcher that adds the time of each fetch (download) to <see cref="WorkerTimes"/>.</summary>
internal sealed class TimedSourceFetcher(ISourceFetcher inner, WorkerTimes times) : ISourceFetcher
{
    /// <inheritdoc />
    public async Task<ILocalVideo> FetchAsync(string source, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        try
        {
            return await inner.FetchAsync(source, cancellationToken);
        }
        finally
        {
            times.AddDownload(Stopwatch.GetElapsedTime(started));
        }
    }
}

/// <summary>An output store that adds the time of each write (part upload) to <see cref="WorkerTimes"/>.</summary>
internal sealed class TimedBlobStore(IBlobStore inner, WorkerTimes times) : IBlobStore
{
    /// <inheritdoc />
    public string DisplayName => inner.DisplayName;

    /// <inheritdoc />
    public IAsyncEnumerable<BlobItem> ListAsync(string prefix, CancellationToken cancellationToken) => inner.ListAsync(prefix, cancellationToken);

    /// <inheritdoc />
    public Task<Stream> OpenReadAsync(string name, CancellationToken cancellationToken) => inner.OpenReadAsync(name, cancellationToken);

    /// <inheritdoc />
    public async Task WriteAsync(string name, Stream content, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        try
        {
            await inner.WriteAsync(name, content, cancellationToken);
        }
        finally
        {
            times.AddUpload(Stopwatch.GetElapsedTime(started));
        }
    }

    /// <inheritdoc />
    public Task<BlobItem?> GetPropertiesAsync(string name, CancellationToken cancellationToken) => inner.GetPropertiesAsync(name, cancellationToken);

    /// <inheritdoc />
    public Task DeleteAsync(string name, CancellationToken cancellationToken) => inner.DeleteAsync(name, cancellationToken);
}

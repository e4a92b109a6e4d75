using TempMe.Pipeline.Contracts;
using TempMe.Pipeline.Ledger.Postgres;
using TempMe.Pipeline.Indexing.Sources;

namespace TempMe.Pipeline.Worker.Gpu;

/// <summary>Downloads a source blob to a temporary file for the decoder; the file is deleted when the video is disposed.</summary>
internal sealed class BlobSourceFetcher(IBlobStore sourceRoot, string tempFolder) : ISourceFetcher
{
    /// <inheritdoc />
    public async Task<ILocalVideo> FetchAsync(string source, CancellationToken cancellationToken)
    {
        var name = JobSources.RelativeName(sourceRoot, source)
            ?? throw new FileNotFoundException($"The video {source} is not under the job's source {sourceRoot.DisplayName}.", source);
        Directory.CreateDirectory(tempFolder);
        var path = Path.Combine(tempFolder, $"{Guid.NewGuid():N}{Path.GetExtension(name)}");
        try
        {
            await using var input = await sourceRoot.OpenReadAsync(name, cancellationToken);
            await using var file = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous);
            await input.CopyToAsync(file, cancellationToken);
        }
        catch
        {
            File.Delete(path);
            throw;
        }

        return new TempVideo(path);
    }

    private sealed record TempVideo(string Path) : ILocalVideo
    {
        public ValueTask DisposeAsync()
        {
            try
            {
                File.Delete(Path);
            }
            catch (IOException)
            {
            }

            return ValueTask.CompletedTask;
        }
    }
}

using System.Runtime.CompilerServices;
using TempMe.Pipeline.Contracts;
using TempMe.Pipeline.Storage.Internal;

namespace TempMe.Pipeline.Storage;

/// <summary>
/// An <see cref="IBlobStore"/> over a local folder: names with '/' map to subfolders.
/// Writes go to a hidden temporary file in the target folder (<c>.NAME.tmp-GUID</c>), are flushed to disk, then renamed over the final name.
/// </summary>
public sealed class LocalFolderStore : IBlobStore
{
    private const string TempMarker = ".tmp-";

    /// <summary>Creates a store rooted at <paramref name="rootPath"/> (made absolute; created on the first write).</summary>
    public LocalFolderStore(string rootPath)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(rootPath);
        Root = Path.TrimEndingDirectorySeparator(Path.GetFullPath(rootPath));
    }

    /// <summary>The absolute root folder.</summary>
    public string Root { get; }

    /// <inheritdoc />
    public string DisplayName => Root;

    /// <inheritdoc />
    public async IAsyncEnumerable<BlobItem> ListAsync(string prefix, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        BlobNames.ValidatePrefix(prefix);

        // Start at the deepest folder the prefix names, so listing one subfolder does not walk the whole tree.
        var slash = prefix.LastIndexOf('/');
        var start = slash < 0 ? Root : Path.Combine(Root, prefix[..slash].Replace('/', Path.DirectorySeparatorChar));
        if (!Directory.Exists(start))
        {
            yield break;
        }

        var items = new List<BlobItem>();
        var options = new EnumerationOptions { RecurseSubdirectories = true, IgnoreInaccessible = true, AttributesToSkip = FileAttributes.ReparsePoint, ReturnSpecialDirectories = false };
        foreach (var path in Directory.EnumerateFiles(start, "*", options))
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (IsTempFile(Path.GetFileName(path)))
            {
                continue;
            }

            var name = Path.GetRelativePath(Root, path).Replace(Path.DirectorySeparatorChar, '/');
            if (!name.StartsWith(prefix, StringComparison.Ordinal))
            {
                continue;
            }

            var info = new FileInfo(path);
            if (info.Exists)
            {
                items.Add(ToItem(name, info));
            }
        }

        items.Sort(static (a, b) => string.CompareOrdinal(a.Name, b.Name));
        foreach (var item in items)
        {
            yield return item;
        }

        await Task.CompletedTask;
    }

    /// <inheritdoc />
    public Task<Stream> OpenReadAsync(string name, CancellationToken cancellationToken)
    {
        var path = PathOf(name);
        cancellationToken.ThrowIfCancellationRequested();
        try
        {
            Stream stream = new FileStream(path, new FileStreamOptions
            {
                Mode = FileMode.Open,
                Access = FileAccess.Read,
                Share = FileShare.Read | FileShare.Delete,
                Options = FileOptions.Asynchronous | FileOptions.SequentialScan,
            });
            return Task.FromResult(stream);
        }
        catch (DirectoryNotFoundException ex)
        {
            throw new FileNotFoundException($"Blob '{name}' was not found in {DisplayName}.", name, ex);
        }
        catch (FileNotFoundException ex)
        {
            throw new FileNotFoundException($"Blob '{name}' was not found in {DisplayName}.", name, ex);
        }
    }

    /// <inheritdoc />
    public async Task WriteAsync(string name, Stream content, CancellationToken cancellationToken)
    {
        var path = PathOf(name);
        ArgumentNullException.ThrowIfNull(content);
        var folder = Path.GetDirectoryName(path)!;
        Directory.CreateDirectory(folder);
        var temp = Path.Combine(folder, $".{Path.GetFileName(path)}{TempMarker}{Guid.NewGuid():N}");
        try
        {
            var stream = new FileStream(temp, new FileStreamOptions
            {
                Mode = FileMode.CreateNew,
                Access = FileAccess.Write,
                Share = FileShare.None,
                Options = FileOptions.Asynchronous,
                BufferSize = 1 << 16,
            });
            await using (stream)
            {
                await content.CopyToAsync(stream, 1 << 16, cancellationToken);
                await stream.FlushAsync(cancellationToken);
                stream.Flush(flushToDisk: true);
            }

            File.Move(temp, path, overwrite: true);
        }
        catch
        {
            TryDelete(temp);
            throw;
        }
    }

    /// <inheritdoc />
    public Task<BlobItem?> GetPropertiesAsync(string name, CancellationToken cancellationToken)
    {
        var info = new FileInfo(PathOf(name));
        cancellationToken.ThrowIfCancellationRequested();
        return Task.FromResult(info.Exists ? ToItem(name, info) : null);
    }

    /// <inheritdoc />
    public Task DeleteAsync(string name, CancellationToken cancellationToken)
    {
        var path = PathOf(name);
        cancellationToken.ThrowIfCancellationRequested();
        try
        {
            File.Delete(path);
        }
        catch (DirectoryNotFoundException)
        {
            // Missing folder: the blob is already gone.
        }

        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public override string ToString() => DisplayName;

    internal static bool IsTempFile(string fileName)
    {
        var marker = fileName.LastIndexOf(TempMarker, StringComparison.Ordinal);
        return fileName.StartsWith('.') && marker > 0 && fileName.Length - marker - TempMarker.Length == 32;
    }

    private static BlobItem ToItem(string name, FileInfo info)
    {
        var modified = new DateTimeOffset(info.LastWriteTimeUtc, TimeSpan.Zero);
        return new BlobItem(name, info.Length, modified, $"\"{modified.UtcTicks:x}-{info.Length:x}\"");
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (IOException)
        {
            // Best effort: a leftover temporary file is skipped by listings.
        }
        catch (UnauthorizedAccessException)
        {
            // Same.
        }
    }

    private string PathOf(string name)
    {
        BlobNames.Validate(name);
        var path = Path.GetFullPath(Path.Combine(Root, name.Replace('/', Path.DirectorySeparatorChar)));
        var rootWithSeparator = Root.EndsWith(Path.DirectorySeparatorChar) ? Root : Root + Path.DirectorySeparatorChar;
        if (!path.StartsWith(rootWithSeparator, StringComparison.Ordinal))
        {
            throw new ArgumentException($"The blob name '{name}' resolves outside the store's root {Root}.", nameof(name));
        }

        if (IsTempFile(Path.GetFileName(path)))
        {
            throw new ArgumentException($"The blob name '{name}' looks like one of the store's temporary files (.NAME.tmp-GUID); choose another name.", nameof(name));
        }

        return path;
    }
}

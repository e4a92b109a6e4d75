using System.Security.Cryptography;
using System.Text;
using TempMe.Pipeline.Contracts;
using TempMe.Pipeline.Encoder;
using TempMe.Pipeline.Storage;

namespace TempMe.Pipeline.Worker.Gpu;

/// <summary>
/// Loads each (model, frames) encoder once per worker. A job's model is <c>random:</c>, a checkpoint under the worker's
/// model roots, or a blob prefix: that is downloaded once into the cache folder (at most <c>maxModelBytes</c>), and when
/// it holds a <c>SHA256SUMS</c> file (<c>HASH  NAME</c> lines, NAME relative to the prefix), every file listed is verified.
/// </summary>
internal sealed class ModelCache(string cacheFolder, ModelRoots modelRoots, long maxModelBytes)
{
    private readonly Dictionary<(string, int), IVideoEncoder> _encoders = [];

    /// <summary>Returns the encoder, loading (and downloading) it when needed. Throws <see cref="ModelLoadException"/> for a bad model.</summary>
    public async Task<IVideoEncoder> GetAsync(string model, int frames, TextWriter notices, CancellationToken cancellationToken)
    {
        if (_encoders.TryGetValue((model, frames), out var cached))
        {
            return cached;
        }

        var spec = ModelRoots.IsLocalPath(model)
            ? modelRoots.ResolveCheckpoint(model)
            : model.StartsWith(EncoderFactory.RandomPrefix, StringComparison.OrdinalIgnoreCase) ? model : await DownloadAsync(model, cancellationToken);
        var encoder = EncoderFactory.Create(spec, frames, notices);
        _encoders[(model, frames)] = encoder;
        return encoder;
    }

    private async Task<string> DownloadAsync(string address, CancellationToken cancellationToken)
    {
        IBlobStore store;
        try
        {
            store = BlobStoreFactory.OpenFromEnvironment(address);
        }
        catch (ArgumentException e)
        {
            throw new ModelLoadException(e.Message);
        }

        var folder = Path.Combine(cacheFolder, Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(store.DisplayName)))[..16]);
        var marker = Path.Combine(folder, ".complete");
        if (File.Exists(marker))
        {
            return folder;
        }

        try
        {
            await DownloadIntoAsync(store, folder, cancellationToken);
            await VerifySumsAsync(store, folder, cancellationToken);
        }
        catch
        {
            // Nothing half-downloaded or unverified stays behind to be picked up later.
            TryDelete(folder);
            throw;
        }

        await File.WriteAllTextAsync(marker, DateTimeOffset.UtcNow.ToString("O"), cancellationToken);
        return folder;
    }

    private async Task DownloadIntoAsync(IBlobStore store, string folder, CancellationToken cancellationToken)
    {
        var items = new List<BlobItem>();
        await foreach (var item in store.ListAsync("", cancellationToken))
        {
            items.Add(item);
        }

        if (items.Count == 0)
        {
            throw new ModelLoadException($"The model prefix {store.DisplayName} holds no files.");
        }

        var listed = items.Sum(i => Math.Max(0, i.Size));
        if (listed > maxModelBytes)
        {
            throw TooLarge(store, $"its files add up to {listed} bytes");
        }

        Directory.CreateDirectory(folder);
        var budget = new DownloadBudget(maxModelBytes);
        foreach (var item in items)
        {
            var target = Path.GetFullPath(Path.Combine(folder, item.Name));
            if (!target.StartsWith(folder + Path.DirectorySeparatorChar, StringComparison.Ordinal))
            {
                continue;
            }

            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            var temp = target + ".part";
            await using (var input = await store.OpenReadAsync(item.Name, cancellationToken))
            await using (var file = File.Create(temp))
            {
                // The listing's sizes may be stale: count what really arrives.
                if (!await budget.CopyAsync(input, file, cancellationToken))
                {
                    throw TooLarge(store, "the download passed the limit");
                }
            }

            File.Move(temp, target, overwrite: true);
        }
    }

    private ModelLoadException TooLarge(IBlobStore store, string detail) =>
        new($"The model prefix {store.DisplayName} is larger than this worker's --max-model-bytes {maxModelBytes} ({detail}); raise --max-model-bytes if the checkpoint really is that large.");

    private static async Task VerifySumsAsync(IBlobStore store, string folder, CancellationToken cancellationToken)
    {
        var sums = Path.Combine(folder, "SHA256SUMS");
        if (!File.Exists(sums))
        {
            return;
        }

        var number = 0;
        foreach (var line in await File.ReadAllLinesAsync(sums, cancellationToken))
        {
            number++;
            var parts = line.Split(' ', 2, StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            if (parts.Length != 2)
            {
                continue;
            }

            // The name is the prefix's own text: it is not echoed, only where it goes wrong.
            var file = Sha256SumsName.Resolve(folder, parts[1].TrimStart('*'))
                ?? throw new ModelLoadException($"SHA256SUMS in {store.DisplayName}, line {number}: the name is not a relative name of a file in the prefix (no leading '/', no '..', no drive); list files as 'HASH  NAME' relative to the prefix.");
            if (!File.Exists(file))
            {
                throw new ModelLoadException($"SHA256SUMS in {store.DisplayName}, line {number}: names a file that is not in the prefix; upload it or remove the line.");
            }

            await using var stream = File.OpenRead(file);
            var actual = Convert.ToHexStringLower(await SHA256.HashDataAsync(stream, cancellationToken));
            if (!string.Equals(actual, parts[0], StringComparison.OrdinalIgnoreCase))
            {
                throw new ModelLoadException($"The checkpoint file {Path.GetRelativePath(folder, file)} from {store.DisplayName} does not match its SHA256SUMS entry (got {actual}).");
            }
        }
    }

    private static void TryDelete(string folder)
    {
        try
        {
            if (Directory.Exists(folder))
            {
                Directory.Delete(folder, recursive: true);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // A later download overwrites whatever is left; there is no marker, so it is never used as is.
        }
    }
}

/// <summary>Where a <c>SHA256SUMS</c> name points inside the download folder; null for absolute, rooted or <c>..</c> names.</summary>
internal static class Sha256SumsName
{
    /// <summary>The file under <paramref name="folder"/>, or null when <paramref name="name"/> could leave it.</summary>
    public static string? Resolve(string folder, string name)
    {
        if (name.Length == 0 || Path.IsPathRooted(name) || name.Contains('\\', StringComparison.Ordinal) || name.Contains(':', StringComparison.Ordinal)
            || name.Split('/').Any(segment => segment == ".."))
        {
            return null;
        }

        var full = Path.GetFullPath(Path.Combine(folder, name));
        return full.StartsWith(folder + Path.DirectorySeparatorChar, StringComparison.Ordinal) ? full : null;
    }
}

/// <summary>Copies streams while the bytes copied so far stay within a total.</summary>
internal sealed class DownloadBudget(long maxBytes)
{
    private long _used;

    /// <summary>Copies <paramref name="input"/>; false (and stops) once the total would pass the budget.</summary>
    public async Task<bool> CopyAsync(Stream input, Stream output, CancellationToken cancellationToken)
    {
        var buffer = new byte[81920];
        int read;
        while ((read = await input.ReadAsync(buffer, cancellationToken)) > 0)
        {
            _used += read;
            if (_used > maxBytes)
            {
                return false;
            }

            await output.WriteAsync(buffer.AsMemory(0, read), cancellationToken);
        }

        return true;
    }
}

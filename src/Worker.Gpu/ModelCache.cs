using System.Security.Cryptography;
using System.Text;
using TempMe.Pipeline.Contracts;
using TempMe.Pipeline.Encoder;
using TempMe.Pipeline.Storage;

namespace TempMe.Pipeline.Worker;

/// <summary>
/// Loads each (model, frames) encoder once per worker. A model named by a blob address is downloaded once into the
/// cache folder; when the prefix holds a <c>SHA256SUMS</c> file (<c>HASH  NAME</c> lines), every file is verified.
/// </summary>
internal sealed class ModelCache(string cacheFolder)
{
    private readonly Dictionary<(string, int), IVideoEncoder> _encoders = [];

    /// <summary>Returns the encoder, loading (and downloading) it when needed. Throws <see cref="ModelLoadException"/> for a bad model.</summary>
    public async Task<IVideoEncoder> GetAsync(string model, int frames, TextWriter notices, CancellationToken cancellationToken)
    {
        if (_encoders.TryGetValue((model, frames), out var cached))
        {
            return cached;
        }

        var spec = model;
        if (model.Contains("://", StringComparison.Ordinal) && !model.StartsWith("file://", StringComparison.OrdinalIgnoreCase))
        {
            spec = await DownloadAsync(model, cancellationToken);
        }

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

        Directory.CreateDirectory(folder);
        var names = new List<string>();
        await foreach (var item in store.ListAsync("", cancellationToken))
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
                await input.CopyToAsync(file, cancellationToken);
            }

            File.Move(temp, target, overwrite: true);
            names.Add(item.Name);
        }

        if (names.Count == 0)
        {
            throw new ModelLoadException($"The model prefix {store.DisplayName} holds no files.");
        }

        var sums = Path.Combine(folder, "SHA256SUMS");
        if (File.Exists(sums))
        {
            foreach (var line in await File.ReadAllLinesAsync(sums, cancellationToken))
            {
                var parts = line.Split(' ', 2, StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
                if (parts.Length != 2)
                {
                    continue;
                }

                var file = Path.Combine(folder, parts[1].TrimStart('*'));
                await using var stream = File.OpenRead(file);
                var actual = Convert.ToHexStringLower(await SHA256.HashDataAsync(stream, cancellationToken));
                if (!string.Equals(actual, parts[0], StringComparison.OrdinalIgnoreCase))
                {
                    throw new ModelLoadException($"The checkpoint file {parts[1]} from {store.DisplayName} does not match its SHA256SUMS entry (got {actual}).");
                }
            }
        }

        await File.WriteAllTextAsync(marker, DateTimeOffset.UtcNow.ToString("O"), cancellationToken);
        return folder;
    }
}

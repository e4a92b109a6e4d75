using System.IO.Compression;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;

namespace TempMe.Pipeline.Encoder.Internal.Checkpoints;

/// <summary>
/// A zip-based PyTorch checkpoint: a <c>torch.save</c> file (PyTorch 1.6 and later) or a TorchScript archive
/// (<c>torch.jit.save</c>, e.g. OpenAI's <c>ViT-B-32.pt</c>). Its <c>ROOT/data.pkl</c> is read by the
/// <see cref="RestrictedUnpickler"/>; storages are the entries <c>ROOT/data/KEY</c>. Every storage's size is checked
/// against its entry and every tensor against its storage when the file is opened; tensor bytes are read on demand.
/// </summary>
internal sealed class TorchZipCheckpoint : ITensorFile
{
    // A CLIP state dict's pickle is tens of kilobytes: far below this, which bounds what a crafted one can cost.
    private const long MaxPickleBytes = 16L * 1024 * 1024;

    // Deflate cannot expand data more than about 1032 times: a larger declared size is a lie (a zip bomb's).
    private const long MaxDeflateRatio = 1100;

    private readonly FileStream _stream;
    private readonly ZipArchive _zip;
    private readonly Dictionary<string, TorchTensorRef> _refs;
    private readonly Dictionary<string, SafeTensorEntry> _entries;
    private (string Key, byte[] Bytes)? _lastStorage;

    private TorchZipCheckpoint(string path, FileStream stream, ZipArchive zip, Dictionary<string, TorchTensorRef> refs)
    {
        Path = path;
        _stream = stream;
        _zip = zip;
        _refs = refs;
        _entries = refs.ToDictionary(
            r => r.Key,
            r =>
            {
                var count = SafeTensorEntry.CountElements(r.Value.Shape)!.Value;
                return new SafeTensorEntry(r.Key, r.Value.Storage.DType.SafeTensorsName, r.Value.Shape, 0, count * r.Value.Storage.DType.ElementBytes);
            },
            StringComparer.Ordinal);
    }

    /// <inheritdoc />
    public string Path { get; }

    /// <inheritdoc />
    public IReadOnlyDictionary<string, SafeTensorEntry> Tensors => _entries;

    /// <summary>Opens <paramref name="path"/> (a regular file, already checked) and reads its pickle.</summary>
    public static TorchZipCheckpoint Open(string path)
    {
        var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.RandomAccess);
        ZipArchive? zip = null;
        try
        {
            ZipArchiveEntry[] pickles;
            try
            {
                // The central directory is read here and on the first look at Entries: both can find it damaged.
                zip = new ZipArchive(stream, ZipArchiveMode.Read, leaveOpen: true);
                pickles = zip.Entries.Where(e => e.FullName.EndsWith("/data.pkl", StringComparison.Ordinal) && e.FullName.Count(c => c == '/') == 1).ToArray();
            }
            catch (InvalidDataException e)
            {
                throw new ModelLoadException($"{path}: not a valid PyTorch checkpoint: the zip archive is damaged ({e.Message}); a truncated download? Fetch the file again.", e);
            }

            if (pickles.Length != 1)
            {
                throw new ModelLoadException(
                    $"{path}: not a PyTorch checkpoint: a zip from torch.save or torch.jit.save holds one ROOT/data.pkl, this one holds {pickles.Length}. " +
                    "Give the .pt/.pth/.bin file PyTorch wrote.");
            }

            var root = pickles[0].FullName[..^"data.pkl".Length];
            if (zip.GetEntry(root + "byteorder") is { } order && ReadText(path, order, 16).Trim() is var text && text != "little")
            {
                throw new ModelLoadException($"{path}: the checkpoint was written on a big-endian machine (byteorder '{(text.Length <= 8 ? text : "?")}'); re-save it on a little-endian one.");
            }

            var fileLength = stream.Length;
            var pickle = ReadEntry(path, pickles[0], MaxPickleBytes, fileLength);
            var storages = new Dictionary<string, TorchStorageRef>(StringComparer.Ordinal);
            var unpickler = new RestrictedUnpickler(path, pickle, pid => LoadStorage(path, zip, root, pid, storages, fileLength));
            var refs = TensorTreeWalker.Collect(path, unpickler.Load());
            return new TorchZipCheckpoint(path, stream, zip, refs);
        }
        catch
        {
            zip?.Dispose();
            stream.Dispose();
            throw;
        }
    }

    /// <inheritdoc />
    public SafeTensorEntry? Find(string name) => _entries.GetValueOrDefault(name);

    /// <inheritdoc />
    public float[] ReadFloat32(string name)
    {
        var e = Find(name) ?? throw new ModelLoadException($"{Path}: missing tensor '{name}'.");
        var bytes = ReadContiguousBytes(name);
        var count = (int)e.ElementCount;
        var result = new float[count];
        switch (e.DType)
        {
            case "F32":
                MemoryMarshal.Cast<byte, float>(bytes).CopyTo(result);
                break;
            case "F16":
                TensorPrimitives.ConvertToSingle(MemoryMarshal.Cast<byte, Half>(bytes), result);
                break;
            case "BF16":
            {
                var raw = MemoryMarshal.Cast<byte, ushort>(bytes);
                for (var i = 0; i < count; i++)
                {
                    result[i] = BitConverter.Int32BitsToSingle(raw[i] << 16);
                }

                break;
            }

            case "F64":
            {
                var raw = MemoryMarshal.Cast<byte, double>(bytes);
                for (var i = 0; i < count; i++)
                {
                    result[i] = (float)raw[i];
                }

                break;
            }

            default:
                throw new ModelLoadException($"{Path}: tensor '{name}' has dtype {e.DType}; expected a floating-point tensor (F32, F16, BF16 or F64).");
        }

        return result;
    }

    /// <inheritdoc />
    public byte[] ReadContiguousBytes(string name)
    {
        var t = _refs.GetValueOrDefault(name) ?? throw new ModelLoadException($"{Path}: missing tensor '{name}'.");
        var storage = StorageBytes(t.Storage);
        var size = t.Storage.DType.ElementBytes;
        var count = SafeTensorEntry.CountElements(t.Shape)!.Value;
        var result = new byte[count * size];
        if (count == 0)
        {
            return result;
        }

        if (t.IsContiguous)
        {
            storage.AsSpan(checked((int)(t.Offset * size)), result.Length).CopyTo(result);
            return result;
        }

        // A strided view (a transpose, a slice): walk its index in row-major order.
        var index = new int[t.Shape.Length];
        for (var i = 0L; i < count; i++)
        {
            var element = t.Offset;
            for (var d = 0; d < index.Length; d++)
            {
                element += index[d] * t.Strides[d];
            }

            storage.AsSpan((int)(element * size), size).CopyTo(result.AsSpan((int)(i * size), size));
            for (var d = index.Length - 1; d >= 0; d--)
            {
                if (++index[d] < t.Shape[d])
                {
                    break;
                }

                index[d] = 0;
            }
        }

        return result;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _zip.Dispose();
        _stream.Dispose();
    }

    private byte[] StorageBytes(TorchStorageRef storage)
    {
        // Tied weights and views share a storage and usually come one after another: keep the last one read.
        if (_lastStorage is { } last && last.Key == storage.Key)
        {
            return last.Bytes;
        }

        var entry = _zip.GetEntry(storage.EntryName) ?? throw new ModelLoadException($"{Path}: storage '{storage.Key}' vanished from the archive.");
        var bytes = ReadEntry(Path, entry, storage.ElementCount * storage.DType.ElementBytes, _stream.Length);
        _lastStorage = (storage.Key, bytes);
        return bytes;
    }

    private static TorchStorageRef LoadStorage(string path, ZipArchive zip, string root, object? pid, Dictionary<string, TorchStorageRef> seen, long fileLength)
    {
        if (pid is not object?[] { Length: 5 } t || t[0] is not "storage")
        {
            throw new ModelLoadException(
                $"{path}: not a valid PyTorch checkpoint: a persistent id is not ('storage', type, key, location, size)" +
                (pid is object?[] { Length: 6 } ? " (a legacy storage view: re-save the file with a current torch.save)." : " (a corrupt or crafted file)."));
        }

        if (t[1] is not PickleGlobal { Kind: PickleGlobalKind.Storage } type || TorchDType.Find(type.Name) is not { } dtype)
        {
            throw new ModelLoadException($"{path}: not a valid PyTorch checkpoint: a storage's type is not one of torch.{string.Join(", torch.", TorchDType.StorageClasses)}.");
        }

        if (t[2] is not string key || key.Length is 0 or > 64 || !key.All(char.IsAsciiLetterOrDigit) || t[4] is not long count || count < 0)
        {
            throw new ModelLoadException($"{path}: not a valid PyTorch checkpoint: a storage has a bad key or size (a corrupt or crafted file).");
        }

        if (seen.TryGetValue(key, out var known))
        {
            return known.DType == dtype && known.ElementCount == count
                ? known
                : throw new ModelLoadException($"{path}: not a valid PyTorch checkpoint: storage '{key}' is named twice with different types or sizes (a crafted file).");
        }

        var name = root + "data/" + key;
        var entry = zip.GetEntry(name) ?? throw new ModelLoadException($"{path}: truncated or not a valid PyTorch checkpoint: storage '{key}' has no entry {name} in the archive.");
        if (count > SafeTensorsFile.MaxElements || count * dtype.ElementBytes != entry.Length)
        {
            throw new ModelLoadException(
                $"{path}: not a valid PyTorch checkpoint: storage '{key}' declares {count} {dtype.SafeTensorsName} elements ({count * (double)dtype.ElementBytes:0} bytes) " +
                $"but its archive entry holds {entry.Length} bytes (a corrupt or crafted file).");
        }

        RequirePlausible(path, entry, fileLength);
        var storage = new TorchStorageRef(key, name, dtype, count);
        seen[key] = storage;
        return storage;
    }

    /// <summary>Reads an entry whole: exactly its declared size, at most <paramref name="limit"/>, and no byte more.</summary>
    private static byte[] ReadEntry(string path, ZipArchiveEntry entry, long limit, long fileLength)
    {
        if (entry.Length > limit)
        {
            throw new ModelLoadException($"{path}: not a valid PyTorch checkpoint: archive entry {entry.FullName} declares {entry.Length} bytes, more than the {limit} expected.");
        }

        RequirePlausible(path, entry, fileLength);
        var bytes = new byte[entry.Length];
        try
        {
            using var s = entry.Open();
            var done = 0;
            while (done < bytes.Length)
            {
                var n = s.Read(bytes, done, bytes.Length - done);
                if (n <= 0)
                {
                    throw new ModelLoadException($"{path}: truncated checkpoint: archive entry {entry.FullName} ends after {done} of its {bytes.Length} bytes; fetch the file again.");
                }

                done += n;
            }

            Span<byte> one = stackalloc byte[1];
            if (s.Read(one) != 0)
            {
                throw new ModelLoadException($"{path}: not a valid PyTorch checkpoint: archive entry {entry.FullName} holds more bytes than the {bytes.Length} its header declares (a corrupt or crafted zip).");
            }
        }
        catch (Exception e) when (e is InvalidDataException or NotSupportedException)
        {
            throw new ModelLoadException($"{path}: not a valid PyTorch checkpoint: archive entry {entry.FullName} is damaged ({e.Message}); fetch the file again.", e);
        }

        if (ZipCrc32.Of(bytes) != entry.Crc32)
        {
            throw new ModelLoadException(
                $"{path}: not a valid PyTorch checkpoint: archive entry {entry.FullName} holds other bytes than the {bytes.Length} its header declares " +
                "(their CRC-32 does not match: the entry is larger than declared, or damaged); fetch the file again.");
        }

        return bytes;
    }

    private static void RequirePlausible(string path, ZipArchiveEntry entry, long fileLength)
    {
        if (entry.CompressedLength > fileLength || (entry.CompressedLength != entry.Length && entry.Length > (entry.CompressedLength * MaxDeflateRatio) + 1024))
        {
            throw new ModelLoadException($"{path}: not a valid PyTorch checkpoint: archive entry {entry.FullName} declares sizes the {fileLength}-byte file cannot hold (a truncated file or a zip bomb).");
        }
    }

    private static string ReadText(string path, ZipArchiveEntry entry, long limit)
        => System.Text.Encoding.ASCII.GetString(ReadEntry(path, entry, limit, long.MaxValue));
}

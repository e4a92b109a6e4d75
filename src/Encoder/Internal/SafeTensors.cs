using System.Buffers.Binary;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using System.Text.Json;

namespace TempMe.Pipeline.Encoder.Internal;

/// <summary>
/// One tensor's header entry: dtype, shape and byte range relative to the start of the data section (for a PyTorch
/// checkpoint, 0 to the tensor's byte count: its bytes are gathered from a storage).
/// </summary>
internal sealed record SafeTensorEntry(string Name, string DType, int[] Shape, long Begin, long End)
{
    /// <summary>Number of elements (1 for a 0-d tensor); checked, and at most <see cref="SafeTensorsFile.MaxElements"/> once the file is open.</summary>
    public long ElementCount => CountElements(Shape) ?? throw new OverflowException($"tensor '{Name}' has more elements than a long can count.");

    /// <summary>The shape as text, e.g. <c>[768, 3, 32, 32]</c>.</summary>
    public string ShapeText => "[" + string.Join(", ", Shape) + "]";

    /// <summary>The product of <paramref name="shape"/>, or null when it overflows a long.</summary>
    public static long? CountElements(int[] shape)
    {
        var count = 1L;
        foreach (var dim in shape)
        {
            try
            {
                count = checked(count * dim);
            }
            catch (OverflowException)
            {
                return null;
            }
        }

        return count;
    }
}

/// <summary>
/// Reads a safetensors file: 8-byte little-endian header length, a JSON header, then raw little-endian data.
/// The header and every tensor's offsets are validated when the file is opened; F32, F16 and BF16 read as float32.
/// </summary>
internal sealed class SafeTensorsFile : ITensorFile
{
    /// <summary>
    /// The most elements one tensor may have: 2^28 - 1, so that its bytes at up to 8 per element fit one span
    /// (bigger than any CLIP tensor: ViT-bigG's token embedding has 63 million).
    /// </summary>
    public const long MaxElements = int.MaxValue / 8;

    private const long MaxHeaderBytes = 100L * 1024 * 1024;

    private static readonly Dictionary<string, int> ElementBytes = new(StringComparer.Ordinal)
    {
        ["F64"] = 8, ["F32"] = 4, ["F16"] = 2, ["BF16"] = 2, ["I64"] = 8, ["I32"] = 4, ["I16"] = 2, ["I8"] = 1,
        ["U64"] = 8, ["U32"] = 4, ["U16"] = 2, ["U8"] = 1, ["BOOL"] = 1, ["F8_E4M3"] = 1, ["F8_E5M2"] = 1,
    };

    private readonly FileStream _stream;
    private readonly long _dataStart;

    private SafeTensorsFile(string path, FileStream stream, long dataStart, Dictionary<string, SafeTensorEntry> tensors, Dictionary<string, string> metadata)
    {
        Path = path;
        _stream = stream;
        _dataStart = dataStart;
        Tensors = tensors;
        Metadata = metadata;
    }

    /// <summary>The file path.</summary>
    public string Path { get; }

    /// <summary>Tensors by name.</summary>
    public IReadOnlyDictionary<string, SafeTensorEntry> Tensors { get; }

    /// <summary>The optional <c>__metadata__</c> strings.</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>Opens and validates <paramref name="path"/>; throws <see cref="ModelLoadException"/> naming the file and the problem.</summary>
    /// <remarks>Messages never quote the file's bytes: the file may be any file the caller can read (a secret, say).</remarks>
    public static SafeTensorsFile Open(string path)
    {
        if (!File.Exists(path))
        {
            throw new ModelLoadException($"{path}: file not found.");
        }

        // Before opening: opening a FIFO for reading blocks until a writer comes (forever, deaf to SIGTERM).
        if (FileKind.DescribeIfNotRegular(path) is { } kind)
        {
            throw new ModelLoadException($"{path}: not a regular file ({kind}); give a .safetensors file.");
        }

        var length = new FileInfo(path).Length;
        if (length < 8)
        {
            throw new ModelLoadException($"{path}: not a safetensors file: {length} bytes is shorter than the 8-byte header length (truncated or empty file).");
        }

        var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.RandomAccess);
        try
        {
            length = stream.Length;
            Span<byte> lenBytes = stackalloc byte[8];
            RandomAccess.Read(stream.SafeFileHandle, lenBytes, 0);
            var headerLength = BinaryPrimitives.ReadUInt64LittleEndian(lenBytes);

            // The length is the file's first 8 bytes: never put it in a message.
            if (headerLength == 0 || headerLength > MaxHeaderBytes)
            {
                throw new ModelLoadException($"{path}: not a safetensors file: its first 8 bytes are not a header length from 1 to {MaxHeaderBytes} (a safetensors file starts with the little-endian length of its JSON header).");
            }

            if ((long)headerLength > length - 8)
            {
                throw new ModelLoadException($"{path}: truncated or not a safetensors file: the header length runs past the end of the {length}-byte file.");
            }

            var header = new byte[headerLength];
            RandomAccess.Read(stream.SafeFileHandle, header, 8);
            var dataStart = 8 + (long)headerLength;
            var dataLength = length - dataStart;
            var (tensors, metadata) = ParseHeader(path, header, dataLength);
            return new SafeTensorsFile(path, stream, dataStart, tensors, metadata);
        }
        catch
        {
            stream.Dispose();
            throw;
        }
    }

    /// <summary>The entry for <paramref name="name"/>, or null.</summary>
    public SafeTensorEntry? Find(string name) => Tensors.TryGetValue(name, out var e) ? e : null;

    /// <summary>Reads a floating-point tensor (F32, F16, BF16 or F64) as float32.</summary>
    public float[] ReadFloat32(string name)
    {
        var e = Find(name) ?? throw new ModelLoadException($"{Path}: missing tensor '{name}'.");
        var result = new float[e.ElementCount];
        ReadFloat32(e, result);
        return result;
    }

    /// <summary>Reads a floating-point tensor into <paramref name="destination"/>.</summary>
    public void ReadFloat32(SafeTensorEntry e, Span<float> destination)
    {
        var count = (int)e.ElementCount;
        if (destination.Length < count)
        {
            throw new ArgumentException("destination too short", nameof(destination));
        }

        switch (e.DType)
        {
            case "F32":
                ReadBytes(e, MemoryMarshal.AsBytes(destination[..count]));
                if (!BitConverter.IsLittleEndian)
                {
                    throw new PlatformNotSupportedException("big-endian hosts are not supported");
                }

                break;
            case "F16":
            {
                var tmp = new Half[count];
                ReadBytes(e, MemoryMarshal.AsBytes(tmp.AsSpan()));
                TensorPrimitives.ConvertToSingle(tmp, destination[..count]);
                break;
            }

            case "BF16":
            {
                var tmp = new ushort[count];
                ReadBytes(e, MemoryMarshal.AsBytes(tmp.AsSpan()));
                for (var i = 0; i < count; i++)
                {
                    destination[i] = BitConverter.Int32BitsToSingle(tmp[i] << 16);
                }

                break;
            }

            case "F64":
            {
                var tmp = new double[count];
                ReadBytes(e, MemoryMarshal.AsBytes(tmp.AsSpan()));
                for (var i = 0; i < count; i++)
                {
                    destination[i] = (float)tmp[i];
                }

                break;
            }

            default:
                throw new ModelLoadException($"{Path}: tensor '{e.Name}' has dtype {e.DType}; expected F32, F16, BF16 or F64.");
        }
    }

    /// <summary>Reads an integer tensor (I64, I32, or U8/BOOL) as int64.</summary>
    public long[] ReadInt64(string name)
    {
        var e = Find(name) ?? throw new ModelLoadException($"{Path}: missing tensor '{name}'.");
        var count = (int)e.ElementCount;
        var result = new long[count];
        switch (e.DType)
        {
            case "I64":
                ReadBytes(e, MemoryMarshal.AsBytes(result.AsSpan()));
                break;
            case "I32":
            {
                var tmp = new int[count];
                ReadBytes(e, MemoryMarshal.AsBytes(tmp.AsSpan()));
                for (var i = 0; i < count; i++)
                {
                    result[i] = tmp[i];
                }

                break;
            }

            case "U8":
            case "BOOL":
            {
                var tmp = new byte[count];
                ReadBytes(e, tmp);
                for (var i = 0; i < count; i++)
                {
                    result[i] = tmp[i];
                }

                break;
            }

            default:
                throw new ModelLoadException($"{Path}: tensor '{e.Name}' has dtype {e.DType}; expected I64, I32, U8 or BOOL.");
        }

        return result;
    }

    /// <inheritdoc />
    public byte[] ReadContiguousBytes(string name)
    {
        var e = Find(name) ?? throw new ModelLoadException($"{Path}: missing tensor '{name}'.");
        var bytes = new byte[e.End - e.Begin];
        ReadBytes(e, bytes);
        return bytes;
    }

    /// <summary>Reads the raw bytes of a tensor.</summary>
    public void ReadBytes(SafeTensorEntry e, Span<byte> destination)
    {
        var total = e.End - e.Begin;
        var done = 0L;
        while (done < total)
        {
            var chunk = (int)Math.Min(total - done, 1 << 30);
            var n = RandomAccess.Read(_stream.SafeFileHandle, destination.Slice((int)done, chunk), _dataStart + e.Begin + done);
            if (n <= 0)
            {
                throw new ModelLoadException($"{Path}: truncated while reading tensor '{e.Name}'.");
            }

            done += n;
        }
    }

    /// <inheritdoc />
    public void Dispose() => _stream.Dispose();

    private static (Dictionary<string, SafeTensorEntry>, Dictionary<string, string>) ParseHeader(string path, byte[] header, long dataLength)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(header);
        }
        catch (JsonException ex)
        {
            // The parser's message quotes the offending character: the position is enough.
            throw new ModelLoadException($"{path}: not a safetensors file: the header is not valid JSON (line {(ex.LineNumber ?? 0) + 1}, byte {(ex.BytePositionInLine ?? 0) + 1} of the header).", ex);
        }

        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
            {
                throw new ModelLoadException($"{path}: not a safetensors file: the header is not a JSON object.");
            }

            var tensors = new Dictionary<string, SafeTensorEntry>(StringComparer.Ordinal);
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var prop in doc.RootElement.EnumerateObject())
            {
                if (prop.Name == "__metadata__")
                {
                    if (prop.Value.ValueKind == JsonValueKind.Object)
                    {
                        foreach (var m in prop.Value.EnumerateObject())
                        {
                            metadata[m.Name] = m.Value.ValueKind == JsonValueKind.String ? m.Value.GetString()! : m.Value.GetRawText();
                        }
                    }

                    continue;
                }

                tensors[prop.Name] = ParseEntry(path, prop, dataLength);
            }

            RequireDisjoint(path, tensors.Values);
            return (tensors, metadata);
        }
    }

    private static SafeTensorEntry ParseEntry(string path, JsonProperty prop, long dataLength)
    {
        var v = prop.Value;
        if (v.ValueKind != JsonValueKind.Object
            || !v.TryGetProperty("dtype", out var dtypeEl) || dtypeEl.ValueKind != JsonValueKind.String
            || !v.TryGetProperty("shape", out var shapeEl) || shapeEl.ValueKind != JsonValueKind.Array
            || !v.TryGetProperty("data_offsets", out var offEl) || offEl.ValueKind != JsonValueKind.Array || offEl.GetArrayLength() != 2)
        {
            throw new ModelLoadException($"{path}: bad header entry for '{prop.Name}': expected {{\"dtype\", \"shape\", \"data_offsets\": [begin, end]}}.");
        }

        var dtype = dtypeEl.GetString()!;
        if (!ElementBytes.TryGetValue(dtype, out var elementBytes))
        {
            throw new ModelLoadException($"{path}: tensor '{prop.Name}' has unknown dtype '{dtype}'; supported: {string.Join(", ", ElementBytes.Keys)}.");
        }

        var shape = new int[shapeEl.GetArrayLength()];
        var i = 0;
        foreach (var d in shapeEl.EnumerateArray())
        {
            if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt32(out var dim) || dim < 0)
            {
                throw new ModelLoadException($"{path}: tensor '{prop.Name}' has a bad shape {shapeEl.GetRawText()}.");
            }

            shape[i++] = dim;
        }

        if (!offEl[0].TryGetInt64(out var begin) || !offEl[1].TryGetInt64(out var end) || begin < 0 || end < begin)
        {
            throw new ModelLoadException($"{path}: tensor '{prop.Name}' has bad data_offsets {offEl.GetRawText()}.");
        }

        var entry = new SafeTensorEntry(prop.Name, dtype, shape, begin, end);
        if (SafeTensorEntry.CountElements(shape) is not { } count || count > MaxElements)
        {
            throw new ModelLoadException($"{path}: tensor '{prop.Name}' ({dtype} {entry.ShapeText}) is too large: more than {MaxElements} elements (a corrupt or crafted header).");
        }

        var expected = count * elementBytes;
        if (end - begin != expected)
        {
            throw new ModelLoadException($"{path}: tensor '{prop.Name}' ({dtype} {entry.ShapeText}) needs {expected} bytes but data_offsets give {end - begin}.");
        }

        if (end > dataLength)
        {
            throw new ModelLoadException($"{path}: truncated: tensor '{prop.Name}' ends at data byte {end} but the file holds only {dataLength} data bytes.");
        }

        return entry;
    }

    /// <summary>No two tensors share bytes, so that everything read is bounded by the file's size.</summary>
    private static void RequireDisjoint(string path, IEnumerable<SafeTensorEntry> entries)
    {
        SafeTensorEntry? previous = null;
        foreach (var e in entries.Where(e => e.End > e.Begin).OrderBy(e => e.Begin))
        {
            if (previous is not null && e.Begin < previous.End)
            {
                throw new ModelLoadException($"{path}: not a valid safetensors file: tensors '{previous.Name}' and '{e.Name}' overlap in the data section.");
            }

            previous = e;
        }
    }
}

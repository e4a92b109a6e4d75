using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;

namespace TempMe.Pipeline.Encoder.Internal;

/// <summary>
/// Writes safetensors files: an 8-byte little-endian header length, a JSON header
/// (<c>{"name":{"dtype":"F32","shape":[…],"data_offsets":[begin,end]}, …}</c>, with an optional <c>__metadata__</c>
/// object of strings first) padded with spaces to a multiple of 8, then each tensor's little-endian bytes in header order.
/// The one writer of the solution: model conversion, embedding dumps and sampled frames all go through it.
/// </summary>
internal static class SafeTensorsWriter
{
    /// <summary>
    /// One tensor to write. The constructor takes the bytes as they are, so that tests can craft inconsistent files;
    /// <see cref="F32"/> and <see cref="I64"/> check that the values fill the shape.
    /// </summary>
    internal sealed record Tensor(string Name, string DType, int[] Shape, byte[] Data)
    {
        /// <summary>A float32 tensor.</summary>
        /// <exception cref="ArgumentException">The shape does not hold exactly <paramref name="values"/>.Length elements.</exception>
        public static Tensor F32(string name, int[] shape, ReadOnlySpan<float> values)
        {
            RequireShapeHolds(name, shape, values.Length);
            var bytes = MemoryMarshal.AsBytes(values).ToArray();
            if (!BitConverter.IsLittleEndian)
            {
                for (var i = 0; i < values.Length; i++)
                {
                    BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * sizeof(float)), values[i]);
                }
            }

            return new(name, "F32", shape, bytes);
        }

        /// <summary>An int64 tensor.</summary>
        /// <exception cref="ArgumentException">The shape does not hold exactly <paramref name="values"/>.Length elements.</exception>
        public static Tensor I64(string name, int[] shape, ReadOnlySpan<long> values)
        {
            RequireShapeHolds(name, shape, values.Length);
            var bytes = MemoryMarshal.AsBytes(values).ToArray();
            if (!BitConverter.IsLittleEndian)
            {
                for (var i = 0; i < values.Length; i++)
                {
                    BinaryPrimitives.WriteInt64LittleEndian(bytes.AsSpan(i * sizeof(long)), values[i]);
                }
            }

            return new(name, "I64", shape, bytes);
        }

        private static void RequireShapeHolds(string name, int[] shape, int count)
        {
            ArgumentNullException.ThrowIfNull(shape);
            long elements = 1;
            foreach (var dim in shape)
            {
                ArgumentOutOfRangeException.ThrowIfNegative(dim, nameof(shape));
                elements *= dim;
            }

            if (elements != count)
            {
                throw new ArgumentException($"Tensor '{name}' has shape [{string.Join(',', shape)}] but {count} values.", nameof(shape));
            }
        }
    }

    /// <summary>Writes <paramref name="tensors"/> to <paramref name="path"/> (via a temporary file, then a rename).</summary>
    public static void Write(string path, IReadOnlyList<Tensor> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var temporary = path + ".tmp";
        using (var stream = new FileStream(temporary, FileMode.Create, FileAccess.Write))
        {
            Write(stream, tensors, metadata);
        }

        File.Move(temporary, path, overwrite: true);
    }

    /// <summary>Writes <paramref name="tensors"/> to <paramref name="stream"/>.</summary>
    public static void Write(Stream stream, IReadOnlyList<Tensor> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(stream);
        stream.Write(HeaderWithLength(tensors, metadata));
        foreach (var t in tensors)
        {
            stream.Write(t.Data);
        }
    }

    /// <summary>As <see cref="Write(string, IReadOnlyList{Tensor}, IReadOnlyDictionary{string, string}?)"/>, asynchronously.</summary>
    public static async Task WriteAsync(string path, IReadOnlyList<Tensor> tensors, CancellationToken cancellationToken, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var temporary = path + ".tmp";
        await using (var stream = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16, useAsync: true))
        {
            await stream.WriteAsync(HeaderWithLength(tensors, metadata), cancellationToken);
            foreach (var t in tensors)
            {
                await stream.WriteAsync(t.Data, cancellationToken);
            }
        }

        File.Move(temporary, path, overwrite: true);
    }

    /// <summary>The 8-byte header length followed by the padded JSON header.</summary>
    internal static byte[] HeaderWithLength(IReadOnlyList<Tensor> tensors, IReadOnlyDictionary<string, string>? metadata)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        var json = new StringBuilder("{");
        var first = true;
        if (metadata is { Count: > 0 })
        {
            json.Append("\"__metadata__\":").Append(JsonSerializer.Serialize(metadata));
            first = false;
        }

        long offset = 0;
        foreach (var t in tensors)
        {
            json.Append(first ? "" : ",");
            first = false;
            json.Append(JsonSerializer.Serialize(t.Name)).Append(":{\"dtype\":\"").Append(t.DType).Append("\",\"shape\":[")
                .Append(string.Join(",", t.Shape)).Append("],\"data_offsets\":[").Append(offset).Append(',').Append(offset + t.Data.Length).Append("]}");
            offset += t.Data.Length;
        }

        json.Append('}');
        while (Encoding.UTF8.GetByteCount(json.ToString()) % 8 != 0)
        {
            json.Append(' ');
        }

        var header = Encoding.UTF8.GetBytes(json.ToString());
        var result = new byte[8 + header.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(result, (ulong)header.Length);
        header.CopyTo(result, 8);
        return result;
    }
}

using System.Buffers.Binary;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;

namespace TempMe.Pipeline.Media;

/// <summary>
/// Writes F32 tensors in the safetensors format: an 8-byte little-endian header length, a JSON header
/// (<c>{"name":{"dtype":"F32","shape":[…],"data_offsets":[begin,end]}}</c>) padded with spaces to a multiple of 8,
/// then the raw little-endian data in header order.
/// </summary>
internal static class SafetensorsWriter
{
    /// <summary>Writes the tensors to <paramref name="path"/> (through a temporary file, then a rename).</summary>
    public static async Task WriteAsync(string path, IReadOnlyList<(string Name, int[] Shape, float[] Data)> tensors, CancellationToken cancellationToken)
    {
        var temporary = path + ".tmp";
        await using (var stream = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16, useAsync: true))
        {
            await WriteAsync(stream, tensors, cancellationToken);
        }

        File.Move(temporary, path, overwrite: true);
    }

    /// <summary>Writes the tensors to <paramref name="stream"/>.</summary>
    public static async Task WriteAsync(Stream stream, IReadOnlyList<(string Name, int[] Shape, float[] Data)> tensors, CancellationToken cancellationToken)
    {
        var header = BuildHeader(tensors);
        var length = new byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)header.Length);
        await stream.WriteAsync(length, cancellationToken);
        await stream.WriteAsync(header, cancellationToken);
        foreach (var (_, _, data) in tensors)
        {
            if (BitConverter.IsLittleEndian)
            {
                await stream.WriteAsync(MemoryMarshal.AsBytes(data.AsSpan()).ToArray(), cancellationToken);
            }
            else
            {
                var bytes = new byte[data.Length * 4];
                for (var i = 0; i < data.Length; i++)
                {
                    BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * 4), data[i]);
                }

                await stream.WriteAsync(bytes, cancellationToken);
            }
        }
    }

    /// <summary>The padded JSON header bytes.</summary>
    internal static byte[] BuildHeader(IReadOnlyList<(string Name, int[] Shape, float[] Data)> tensors)
    {
        var json = new StringBuilder("{");
        long offset = 0;
        for (var i = 0; i < tensors.Count; i++)
        {
            var (name, shape, data) = tensors[i];
            long elements = 1;
            foreach (var dim in shape)
            {
                ArgumentOutOfRangeException.ThrowIfNegative(dim);
                elements *= dim;
            }

            if (elements != data.Length)
            {
                throw new ArgumentException($"Tensor '{name}' has shape [{string.Join(',', shape)}] but {data.Length} values.", nameof(tensors));
            }

            if (name.Any(c => c is '"' or '\\' || char.IsControl(c)))
            {
                throw new ArgumentException($"Tensor name '{name}' needs JSON escaping; use a plain name.", nameof(tensors));
            }

            var end = offset + (4 * elements);
            json.Append(i == 0 ? "" : ",")
                .Append(CultureInfo.InvariantCulture, $"\"{name}\":{{\"dtype\":\"F32\",\"shape\":[{string.Join(',', shape)}],\"data_offsets\":[{offset},{end}]}}");
            offset = end;
        }

        json.Append('}');
        while (Encoding.UTF8.GetByteCount(json.ToString()) % 8 != 0)
        {
            json.Append(' ');
        }

        return Encoding.UTF8.GetBytes(json.ToString());
    }
}

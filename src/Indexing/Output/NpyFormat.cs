using System.Buffers.Binary;
using System.Globalization;
using System.Text;

namespace TempMe.Pipeline.Indexing.Output;

/// <summary>
/// Writes and reads numpy's <c>.npy</c> format, version 1.0, for little-endian float32 matrices: magic, version,
/// a 2-byte header length, a Python-dict header padded with spaces so the data starts at a multiple of 64, then raw data.
/// </summary>
public static class NpyFormat
{
    private static ReadOnlySpan<byte> Magic => [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y'];

    /// <summary>Writes a <c>[rows, columns]</c> float32 matrix.</summary>
    public static void WriteFloat32(Stream destination, ReadOnlySpan<float> data, int rows, int columns)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(rows);
        ArgumentOutOfRangeException.ThrowIfNegative(columns);
        if (data.Length != rows * columns)
        {
            throw new ArgumentException($"Expected {rows}×{columns} = {rows * columns} floats, got {data.Length}.", nameof(data));
        }

        WriteHeader(destination, rows, columns);
        var buffer = new byte[Math.Min(data.Length, 1 << 16) * sizeof(float)];
        for (var offset = 0; offset < data.Length; offset += buffer.Length / sizeof(float))
        {
            var chunk = data.Slice(offset, Math.Min(buffer.Length / sizeof(float), data.Length - offset));
            for (var i = 0; i < chunk.Length; i++)
            {
                BinaryPrimitives.WriteSingleLittleEndian(buffer.AsSpan(i * sizeof(float)), chunk[i]);
            }

            destination.Write(buffer, 0, chunk.Length * sizeof(float));
        }
    }

    /// <summary>
    /// Writes only the header of a <c>[rows, columns]</c> float32 matrix; the caller then writes <c>rows × columns</c>
    /// little-endian floats (used to stream matrices too large to hold at once).
    /// </summary>
    public static void WriteHeader(Stream destination, long rows, int columns)
    {
        ArgumentNullException.ThrowIfNull(destination);
        var dict = string.Create(CultureInfo.InvariantCulture, $"{{'descr': '<f4', 'fortran_order': False, 'shape': ({rows}, {columns}), }}");
        var unpadded = Magic.Length + 2 + 2 + dict.Length + 1;
        var padding = (64 - (unpadded % 64)) % 64;
        var header = dict + new string(' ', padding) + "\n";
        Span<byte> prefix = stackalloc byte[10];
        Magic.CopyTo(prefix);
        prefix[6] = 1;
        prefix[7] = 0;
        BinaryPrimitives.WriteUInt16LittleEndian(prefix[8..], checked((ushort)header.Length));
        destination.Write(prefix);
        destination.Write(Encoding.ASCII.GetBytes(header));
    }

    /// <summary>
    /// Reads the header of a float32 <c>.npy</c>, leaving <paramref name="source"/> at the first float. Throws
    /// <see cref="InvalidDataException"/> for anything but C-order little-endian float32 of one or two dimensions, and,
    /// when the stream can tell its length, for a size that does not match the shape (a truncated or forged file).
    /// </summary>
    public static NpyHeader ReadHeader(Stream source)
    {
        ArgumentNullException.ThrowIfNull(source);
        var (text, dataOffset) = ReadHeaderText(source);
        if (!text.Contains("'<f4'", StringComparison.Ordinal) || text.Contains("'fortran_order': True", StringComparison.Ordinal))
        {
            throw new InvalidDataException($"Only C-order little-endian float32 .npy files are supported, header: {text.Trim()}");
        }

        var (rows, columns) = ParseShape(text);
        if (source.CanSeek)
        {
            RequireSizeMatches(source.Length, rows, columns, dataOffset);
        }

        return new NpyHeader(rows, columns, dataOffset);
    }

    /// <summary>The version 1.0 prefix (magic, version, header length) and the header's text; the data start after them.</summary>
    private static (string Text, long DataOffset) ReadHeaderText(Stream source)
    {
        Span<byte> prefix = stackalloc byte[10];
        try
        {
            source.ReadExactly(prefix);
        }
        catch (EndOfStreamException)
        {
            throw new InvalidDataException("Not a .npy file: shorter than the 10-byte .npy prefix.");
        }

        if (!prefix[..6].SequenceEqual(Magic) || prefix[6] != 1)
        {
            throw new InvalidDataException("Not a .npy version 1.0 file.");
        }

        var header = new byte[BinaryPrimitives.ReadUInt16LittleEndian(prefix[8..])];
        try
        {
            source.ReadExactly(header);
        }
        catch (EndOfStreamException)
        {
            throw new InvalidDataException($"Truncated .npy file: the header says it is {header.Length} bytes long, the file ends first.");
        }

        return (Encoding.ASCII.GetString(header), prefix.Length + (long)header.Length);
    }

    /// <summary>Rows and columns from the header's <c>'shape': (rows,)</c> or <c>(rows, columns)</c>.</summary>
    private static (long Rows, int Columns) ParseShape(string text)
    {
        var start = text.IndexOf("'shape': (", StringComparison.Ordinal);
        var end = start < 0 ? -1 : text.IndexOf(')', start);
        if (end < 0)
        {
            throw new InvalidDataException($"The .npy header has no shape: {text.Trim()}");
        }

        var shapeText = text[(start + 10)..end];
        var shape = shapeText.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var columns = 1;
        if (shape.Length is < 1 or > 2
            || !long.TryParse(shape[0], NumberStyles.None, CultureInfo.InvariantCulture, out var rows)
            || (shape.Length == 2 && !int.TryParse(shape[1], NumberStyles.None, CultureInfo.InvariantCulture, out columns)))
        {
            throw new InvalidDataException($"Expected a 1-d or 2-d float32 matrix, the .npy header says shape ({shapeText}).");
        }

        return (rows, columns);
    }

    /// <summary>Throws unless the data after the header are exactly rows × columns floats (a truncated, foreign or forged file).</summary>
    private static void RequireSizeMatches(long fileLength, long rows, int columns, long dataOffset)
    {
        // Divide rather than multiply: a forged shape must not overflow into a size that matches a small file.
        var dataBytes = fileLength - dataOffset;
        var fits = columns == 0 ? dataBytes == 0 : rows <= dataBytes / (4L * columns) && rows * 4L * columns == dataBytes;
        if (!fits)
        {
            throw new InvalidDataException($"The .npy file has {fileLength} bytes, but its header says a {rows}×{columns} float32 matrix after a {dataOffset}-byte header (a truncated, foreign or forged file).");
        }
    }

    /// <summary>Reads a float32 matrix written by <see cref="WriteFloat32"/> (or numpy), returning its shape and data.</summary>
    public static (int Rows, int Columns, float[] Data) ReadFloat32(Stream source)
    {
        var header = ReadHeader(source);
        if (header.Rows * (long)header.Columns > Array.MaxLength / sizeof(float))
        {
            throw new InvalidDataException($"A {header.Rows}×{header.Columns} .npy matrix is too large to read into memory; search it (it is memory-mapped) instead.");
        }

        var rows = (int)header.Rows;
        var columns = header.Columns;
        var bytes = new byte[rows * columns * sizeof(float)];
        try
        {
            source.ReadExactly(bytes);
        }
        catch (EndOfStreamException)
        {
            throw new InvalidDataException($"Truncated .npy file: the header says {rows}×{columns} floats, the file ends first.");
        }

        var data = new float[rows * columns];
        for (var i = 0; i < data.Length; i++)
        {
            data[i] = BinaryPrimitives.ReadSingleLittleEndian(bytes.AsSpan(i * sizeof(float)));
        }

        return (rows, columns, data);
    }
}

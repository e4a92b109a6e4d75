using System.Buffers.Binary;
using System.Globalization;
using System.Text;

namespace TempMe.Pipeline.Pipeline.Search;

/// <summary>The shape and data offset of a float32 <c>.npy</c> file, read from its header alone (the data stays on disk).</summary>
/// <param name="Rows">Rows of the matrix.</param>
/// <param name="Columns">Columns (embedding width).</param>
/// <param name="DataOffset">Byte offset of the first float.</param>
public sealed record NpyHeader(long Rows, int Columns, long DataOffset)
{
    /// <summary>Reads the header of <paramref name="path"/>; throws <see cref="InvalidDataException"/> for anything but C-order little-endian float32.</summary>
    public static NpyHeader Read(string path)
    {
        using var file = File.OpenRead(path);
        Span<byte> prefix = stackalloc byte[10];
        if (file.Read(prefix) != 10 || prefix[0] != 0x93 || !prefix[1..6].SequenceEqual("NUMPY"u8) || prefix[6] != 1)
        {
            throw new InvalidDataException($"{path}: not a .npy version 1.0 file.");
        }

        var headerLength = BinaryPrimitives.ReadUInt16LittleEndian(prefix[8..]);
        var header = new byte[headerLength];
        file.ReadExactly(header);
        var text = Encoding.ASCII.GetString(header);
        if (!text.Contains("'<f4'", StringComparison.Ordinal) || text.Contains("'fortran_order': True", StringComparison.Ordinal))
        {
            throw new InvalidDataException($"{path}: only C-order little-endian float32 .npy files can be searched (header {text.Trim()}).");
        }

        var start = text.IndexOf("'shape': (", StringComparison.Ordinal);
        var end = start < 0 ? -1 : text.IndexOf(')', start);
        if (end < 0)
        {
            throw new InvalidDataException($"{path}: the .npy header has no shape.");
        }

        var shape = text[(start + 10)..end].Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (shape.Length != 2
            || !long.TryParse(shape[0], NumberStyles.None, CultureInfo.InvariantCulture, out var rows)
            || !int.TryParse(shape[1], NumberStyles.None, CultureInfo.InvariantCulture, out var columns))
        {
            throw new InvalidDataException($"{path}: expected a 2-d matrix, the header says shape ({text[(start + 10)..end]}).");
        }

        var dataOffset = 10L + headerLength;
        if (file.Length != dataOffset + (rows * columns * sizeof(float)))
        {
            throw new InvalidDataException($"{path}: {file.Length} bytes, but a {rows}×{columns} float32 matrix needs {dataOffset + (rows * columns * sizeof(float))} (a truncated or foreign file).");
        }

        return new NpyHeader(rows, columns, dataOffset);
    }
}

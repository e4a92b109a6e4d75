using System.Buffers.Binary;
using TempMe.Pipeline.Indexing.Output;
using TempMe.Pipeline.Search;

namespace TempMe.Pipeline.Indexing.Tests;

/// <summary><see cref="NpyFormat.ReadHeader"/>, the one .npy header reader behind search's mapping and the tests' reads.</summary>
public sealed class NpyHeaderTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("tempme-npy-").FullName;

    [Fact]
    public void A_written_matrix_reads_back_with_its_shape_and_data_offset()
    {
        var path = Write("ok.npy", 3, 4, 3 * 4);
        using (var stream = File.OpenRead(path))
        {
            var header = NpyFormat.ReadHeader(stream);
            Assert.Equal(new NpyHeader(3, 4, 128), header);
            Assert.Equal(header.DataOffset, stream.Position);
        }

        using var matrix = MappedMatrix.Open(path);
        Assert.Equal(3, matrix.Rows);
        Assert.Equal([8f, 9f, 10f, 11f], matrix.Row(2).ToArray());
    }

    [Fact]
    public void A_forged_shape_whose_size_overflows_to_the_file_size_is_refused()
    {
        // 2^60 + 1 rows of 4 floats is 2^64 + 16 bytes: multiplied in 64 bits that wraps to 16, exactly one row's data.
        const long forgedRows = (1L << 60) + 1;
        var path = Write("forged.npy", forgedRows, 4, 4);
        var error = Assert.Throws<InvalidDataException>(() => MappedMatrix.Open(path));
        Assert.Contains(path, error.Message, StringComparison.Ordinal);
        Assert.Contains($"{forgedRows}×4", error.Message, StringComparison.Ordinal);
        Assert.Contains("forged", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_truncated_matrix_or_header_is_refused()
    {
        var shortData = Write("short.npy", 3, 4, 2 * 4);
        Assert.Contains("3×4", Assert.Throws<InvalidDataException>(() => MappedMatrix.Open(shortData)).Message, StringComparison.Ordinal);

        var whole = File.ReadAllBytes(Write("whole.npy", 1, 4, 4));
        var shortHeader = Path.Combine(_folder, "short-header.npy");
        File.WriteAllBytes(shortHeader, whole[..40]);
        Assert.Contains("Truncated", Assert.Throws<InvalidDataException>(() => MappedMatrix.Open(shortHeader)).Message, StringComparison.Ordinal);

        // A stream that cannot tell its length is still refused when the data ends early.
        using var stream = new MemoryStream(File.ReadAllBytes(shortData));
        var error = Assert.Throws<InvalidDataException>(() => NpyFormat.ReadFloat32(new ForwardOnlyStream(stream)));
        Assert.Contains("Truncated", error.Message, StringComparison.Ordinal);
    }

    /// <inheritdoc />
    public void Dispose() => Directory.Delete(_folder, recursive: true);

    /// <summary>A header claiming <paramref name="rows"/>×<paramref name="columns"/>, followed by <paramref name="floats"/> floats 0, 1, 2, ...</summary>
    private string Write(string name, long rows, int columns, int floats)
    {
        var path = Path.Combine(_folder, name);
        using var file = File.Create(path);
        NpyFormat.WriteHeader(file, rows, columns);
        var buffer = new byte[sizeof(float)];
        for (var i = 0; i < floats; i++)
        {
            BinaryPrimitives.WriteSingleLittleEndian(buffer, i);
            file.Write(buffer);
        }

        return path;
    }
}

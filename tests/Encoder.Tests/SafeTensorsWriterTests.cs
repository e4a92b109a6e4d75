using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using TempMe.Pipeline.Encoder.Internal;

namespace TempMe.Pipeline.Encoder.Tests;

/// <summary>The one safetensors writer (frames, embeddings and converted checkpoints all use it).</summary>
public sealed class SafeTensorsWriterTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("tempme-stw").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    [Fact]
    public void Writes_header_length_padded_json_and_little_endian_floats()
    {
        float[] data = [1f, -2.5f, 3.25f, 0f, 1e-8f, float.MaxValue];
        using var stream = new MemoryStream();
        SafeTensorsWriter.Write(stream, [SafeTensorsWriter.Tensor.F32("frames", [1, 2, 3], data)]);
        var bytes = stream.ToArray();

        var headerLength = (int)BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        Assert.Equal(0, headerLength % 8);
        Assert.Equal(8 + headerLength + (4 * data.Length), bytes.Length);
        var header = Encoding.UTF8.GetString(bytes, 8, headerLength);
        Assert.Equal(header.TrimEnd(), header.TrimEnd(' '));
        using var json = JsonDocument.Parse(header);
        var frames = json.RootElement.GetProperty("frames");
        Assert.Equal("F32", frames.GetProperty("dtype").GetString());
        Assert.Equal([1, 2, 3], frames.GetProperty("shape").EnumerateArray().Select(e => e.GetInt32()));
        Assert.Equal([0L, 24L], frames.GetProperty("data_offsets").EnumerateArray().Select(e => e.GetInt64()));
        for (var i = 0; i < data.Length; i++)
        {
            Assert.Equal(data[i], BinaryPrimitives.ReadSingleLittleEndian(bytes.AsSpan(8 + headerLength + (4 * i))));
        }
    }

    [Fact]
    public void Rejects_a_shape_that_does_not_match_the_data()
    {
        Assert.Throws<ArgumentException>(() => SafeTensorsWriter.Tensor.F32("x", [2, 2], new float[3]));
        Assert.Throws<ArgumentException>(() => SafeTensorsWriter.Tensor.I64("x", [2], new long[3]));
    }

    [Fact]
    public async Task The_async_file_writer_writes_the_same_bytes_as_the_stream_writer_and_the_reader_reads_them_back()
    {
        SafeTensorsWriter.Tensor[] tensors =
        [
            SafeTensorsWriter.Tensor.F32("frames", [2, 3], [1, 2, 3, 4, 5, 6]),
            SafeTensorsWriter.Tensor.I64("counts", [2], [50, 48]),
        ];
        var path = Path.Combine(_dir, "frames.safetensors");
        var metadata = new Dictionary<string, string> { ["fingerprint"] = "abc" };
        await SafeTensorsWriter.WriteAsync(path, tensors, CancellationToken.None, metadata);
        using var stream = new MemoryStream();
        SafeTensorsWriter.Write(stream, tensors, metadata);

        Assert.Equal(stream.ToArray(), await File.ReadAllBytesAsync(path));
        Assert.False(File.Exists(path + ".tmp"));
        using var file = SafeTensorsFile.Open(path);
        Assert.Equal([1f, 2, 3, 4, 5, 6], file.ReadFloat32("frames"));
        Assert.Equal([50L, 48], file.ReadInt64("counts"));
        Assert.Equal("abc", file.Metadata["fingerprint"]);
    }
}

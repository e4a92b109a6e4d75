using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;

namespace TempMe.Pipeline.Testing;

/// <summary>Reads and writes F32 tensors in safetensors files for tests (8-byte header length, JSON header, raw data).</summary>
internal static class SafetensorsTestFile
{
    /// <summary>The F32 tensor <paramref name="name"/> of <paramref name="path"/>, with its shape.</summary>
    public static (long[] Shape, float[] Data) ReadF32(string path, string name)
    {
        var bytes = File.ReadAllBytes(path);
        var headerLength = (int)BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        using var header = JsonDocument.Parse(bytes.AsMemory(8, headerLength));
        var entry = header.RootElement.GetProperty(name);
        Assert.Equal("F32", entry.GetProperty("dtype").GetString());
        var shape = entry.GetProperty("shape").EnumerateArray().Select(e => e.GetInt64()).ToArray();
        var offsets = entry.GetProperty("data_offsets").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        var data = MemoryMarshal.Cast<byte, float>(bytes.AsSpan(8 + headerLength + offsets[0], offsets[1] - offsets[0])).ToArray();
        return (shape, data);
    }

    /// <summary>Writes one F32 tensor.</summary>
    public static void WriteF32(string path, string name, long[] shape, float[] data)
    {
        var header = JsonSerializer.Serialize(new Dictionary<string, object>
        {
            [name] = new { dtype = "F32", shape, data_offsets = new long[] { 0, data.Length * 4L } },
        });
        header += new string(' ', (8 - (header.Length % 8)) % 8);
        using var file = File.Create(path);
        Span<byte> length = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)header.Length);
        file.Write(length);
        file.Write(Encoding.ASCII.GetBytes(header));
        file.Write(MemoryMarshal.AsBytes(data.AsSpan()));
    }
}

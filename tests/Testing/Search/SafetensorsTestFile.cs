using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text.Json;

namespace TempMe.Pipeline.Testing.Search;

/// <summary>Reads F32 tensors of safetensors files for tests (the product's <c>SafeTensorsWriter</c> writes them).</summary>
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
}

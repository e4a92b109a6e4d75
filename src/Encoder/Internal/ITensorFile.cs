namespace TempMe.Pipeline.Encoder.Internal;

/// <summary>
/// A checkpoint's tensors by name, whatever the file format (safetensors, a zip <c>torch.save</c>, a TorchScript archive).
/// Every entry's shape and bytes were checked against the file when it was opened.
/// </summary>
internal interface ITensorFile : IDisposable
{
    /// <summary>The file path.</summary>
    string Path { get; }

    /// <summary>Tensors by name; <see cref="SafeTensorEntry.DType"/> uses the safetensors dtype names (F32, F16, BF16, ...).</summary>
    IReadOnlyDictionary<string, SafeTensorEntry> Tensors { get; }

    /// <summary>The entry for <paramref name="name"/>, or null.</summary>
    SafeTensorEntry? Find(string name);

    /// <summary>Reads a floating-point tensor (F32, F16, BF16 or F64) as float32.</summary>
    float[] ReadFloat32(string name);

    /// <summary>The tensor's elements in row-major order, little-endian, in its own dtype.</summary>
    byte[] ReadContiguousBytes(string name);
}

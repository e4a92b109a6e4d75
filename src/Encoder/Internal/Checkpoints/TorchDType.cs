namespace TempMe.Pipeline.Encoder.Internal.Checkpoints;

/// <summary>A PyTorch storage dtype: its storage class name, safetensors dtype name and element size.</summary>
internal sealed record TorchDType(string StorageClass, string SafeTensorsName, int ElementBytes)
{
    private static readonly Dictionary<string, TorchDType> ByStorageClass = new TorchDType[]
    {
        new("FloatStorage", "F32", 4),
        new("HalfStorage", "F16", 2),
        new("BFloat16Storage", "BF16", 2),
        new("DoubleStorage", "F64", 8),
        new("LongStorage", "I64", 8),
        new("IntStorage", "I32", 4),
        new("ShortStorage", "I16", 2),
        new("CharStorage", "I8", 1),
        new("ByteStorage", "U8", 1),
        new("BoolStorage", "BOOL", 1),
    }.ToDictionary(d => d.StorageClass, StringComparer.Ordinal);

    /// <summary>The storage classes known, for messages.</summary>
    public static IEnumerable<string> StorageClasses => ByStorageClass.Keys;

    /// <summary>The dtype of <c>torch.<paramref name="storageClass"/></c>, or null.</summary>
    public static TorchDType? Find(string storageClass) => ByStorageClass.GetValueOrDefault(storageClass);
}

using System.Runtime.InteropServices;
using System.Text.Json;

namespace TempMe.Pipeline.Ledger.Internal;

/// <summary>Stores embeddings as little-endian float32 bytes and timestamps as JSON, the same in every dialect.</summary>
internal static class EmbeddingCodec
{
    /// <summary>The raw bytes of a vector.</summary>
    public static byte[] ToBytes(float[] vector)
    {
        if (!BitConverter.IsLittleEndian)
        {
            throw new PlatformNotSupportedException("The ledger stores little-endian floats; big-endian hosts are not supported.");
        }

        return MemoryMarshal.AsBytes(vector.AsSpan()).ToArray();
    }

    /// <summary>A vector from its raw bytes.</summary>
    public static float[] FromBytes(byte[] bytes) => MemoryMarshal.Cast<byte, float>(bytes).ToArray();

    /// <summary>Timestamps as a JSON array.</summary>
    public static string TimestampsToJson(IReadOnlyList<double> timestamps) => JsonSerializer.Serialize(timestamps.Select(t => Math.Round(t, 6)).ToArray());

    /// <summary>Timestamps from a JSON array.</summary>
    public static IReadOnlyList<double> TimestampsFromJson(string json) => JsonSerializer.Deserialize<double[]>(json) ?? [];
}

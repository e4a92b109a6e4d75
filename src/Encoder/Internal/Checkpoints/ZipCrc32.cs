namespace TempMe.Pipeline.Encoder.Internal.Checkpoints;

/// <summary>
/// The CRC-32 a zip stores per entry (IEEE 802.3, reflected, polynomial 0xEDB88320). .NET's reader stops at an
/// entry's declared size without checking it, so a deflated entry that holds more than it declares reads as silently
/// cut short: the checksum is what tells.
/// </summary>
internal static class ZipCrc32
{
    private static readonly uint[] Table = Build();

    /// <summary>The CRC-32 of <paramref name="data"/>.</summary>
    public static uint Of(ReadOnlySpan<byte> data)
    {
        var crc = 0xFFFFFFFFu;
        foreach (var b in data)
        {
            crc = Table[(crc ^ b) & 0xFF] ^ (crc >> 8);
        }

        return ~crc;
    }

    private static uint[] Build()
    {
        var table = new uint[256];
        for (var n = 0u; n < 256; n++)
        {
            var c = n;
            for (var k = 0; k < 8; k++)
            {
                c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            }

            table[n] = c;
        }

        return table;
    }
}

using System.Runtime.CompilerServices;
using JpegLibrary;

namespace TempMe.Pipeline.Indexing.Thumbnails;

/// <summary>
/// Hands JpegLibrary's encoder 8×8 blocks of Y, Cb or Cr (JFIF's full-range BT.601 conversion) from interleaved RGB
/// bytes; blocks that overhang the right or bottom edge repeat the edge pixels, as encoders usually pad.
/// </summary>
internal sealed class RgbBlockReader(byte[] rgb, int width, int height) : JpegBlockInputReader
{
    /// <inheritdoc />
    public override int Width => width;

    /// <inheritdoc />
    public override int Height => height;

    /// <inheritdoc />
    public override void ReadBlock(ref short blockRef, int componentIndex, int x, int y)
    {
        for (var row = 0; row < 8; row++)
        {
            var py = Math.Min(y + row, height - 1);
            for (var column = 0; column < 8; column++)
            {
                var px = Math.Min(x + column, width - 1);
                var i = ((py * width) + px) * 3;
                float r = rgb[i], g = rgb[i + 1], b = rgb[i + 2];
                var value = componentIndex switch
                {
                    0 => (0.299f * r) + (0.587f * g) + (0.114f * b),
                    1 => 128f - (0.168736f * r) - (0.331264f * g) + (0.5f * b),
                    _ => 128f + (0.5f * r) - (0.418688f * g) - (0.081312f * b),
                };
                Unsafe.Add(ref blockRef, (row * 8) + column) = (short)Math.Clamp((int)MathF.Round(value), 0, 255);
            }
        }
    }
}

using System.Buffers;
using JpegLibrary;

namespace TempMe.Pipeline.Indexing.Thumbnails;

/// <summary>
/// Makes a small JPEG of one sampled frame. The frames the sampler hands over are the model's input, planar
/// CLIP-normalised floats <c>[T, 3, S, S]</c> of the centre crop, so the thumbnail is that square crop: the values are
/// mapped back to bytes, shrunk by area averaging to at most <see cref="MaxSide"/> pixels a side and encoded (baseline,
/// YCbCr 4:4:4) by JpegLibrary.
/// </summary>
public static class ThumbnailEncoder
{
    /// <summary>The longest side of a thumbnail, in pixels.</summary>
    public const int MaxSide = 160;

    /// <summary>JPEG quality (1–100) of thumbnails: small files, faces still recognisable at this size.</summary>
    public const int Quality = 80;

    // CLIP's normalisation, the inverse of what the frame sampler applied (ClipNormalizer in Media).
    private static readonly float[] Mean = [0.48145466f, 0.4578275f, 0.40821073f];
    private static readonly float[] Std = [0.26862954f, 0.26130258f, 0.27577711f];

    /// <summary>The side of the thumbnail of an <paramref name="imageSize"/>-pixel square frame.</summary>
    public static int SideFor(int imageSize) => Math.Min(imageSize, MaxSide);

    /// <summary>
    /// Encodes frame <paramref name="frame"/> of <paramref name="frames"/> (<c>[T, 3, S, S]</c>, S = <paramref name="imageSize"/>)
    /// as a JPEG of <see cref="SideFor"/> pixels a side.
    /// </summary>
    public static byte[] Encode(ReadOnlySpan<float> frames, int imageSize, int frame)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(imageSize, 1);
        var plane = imageSize * imageSize;
        var start = (long)frame * 3 * plane;
        if (frame < 0 || start + 3L * plane > frames.Length)
        {
            throw new ArgumentOutOfRangeException(nameof(frame), $"Frame {frame} is outside a tensor of {frames.Length} values at {imageSize}px.");
        }

        var side = SideFor(imageSize);
        var rgb = Shrink(frames.Slice((int)start, 3 * plane), imageSize, side);
        return EncodeRgb(rgb, side, side);
    }

    /// <summary>Encodes interleaved RGB bytes (<paramref name="width"/>·<paramref name="height"/>·3) as a baseline JPEG.</summary>
    public static byte[] EncodeRgb(byte[] rgb, int width, int height)
    {
        var encoder = new JpegEncoder();
        encoder.SetQuantizationTable(JpegStandardQuantizationTable.ScaleByQuality(JpegStandardQuantizationTable.GetLuminanceTable(JpegElementPrecision.Precision8Bit, 0), Quality));
        encoder.SetQuantizationTable(JpegStandardQuantizationTable.ScaleByQuality(JpegStandardQuantizationTable.GetChrominanceTable(JpegElementPrecision.Precision8Bit, 1), Quality));
        encoder.SetHuffmanTable(true, 0, JpegStandardHuffmanEncodingTable.GetLuminanceDCTable());
        encoder.SetHuffmanTable(false, 0, JpegStandardHuffmanEncodingTable.GetLuminanceACTable());
        encoder.SetHuffmanTable(true, 1, JpegStandardHuffmanEncodingTable.GetChrominanceDCTable());
        encoder.SetHuffmanTable(false, 1, JpegStandardHuffmanEncodingTable.GetChrominanceACTable());
        encoder.AddComponent(1, 0, 0, 0, 1, 1);
        encoder.AddComponent(2, 1, 1, 1, 1, 1);
        encoder.AddComponent(3, 1, 1, 1, 1, 1);
        encoder.SetInputReader(new RgbBlockReader(rgb, width, height));
        var output = new ArrayBufferWriter<byte>(8 * 1024);
        encoder.SetOutput(output);
        encoder.Encode();
        return output.WrittenSpan.ToArray();
    }

    /// <summary>One planar normalised frame to interleaved RGB bytes of <paramref name="side"/>², averaging the source pixels each target pixel covers.</summary>
    private static byte[] Shrink(ReadOnlySpan<float> planar, int size, int side)
    {
        var plane = size * size;
        var rgb = new byte[side * side * 3];
        for (var ty = 0; ty < side; ty++)
        {
            var y0 = ty * size / side;
            var y1 = Math.Max(y0 + 1, (ty + 1) * size / side);
            for (var tx = 0; tx < side; tx++)
            {
                var x0 = tx * size / side;
                var x1 = Math.Max(x0 + 1, (tx + 1) * size / side);
                var count = (y1 - y0) * (x1 - x0);
                for (var c = 0; c < 3; c++)
                {
                    var channel = planar.Slice(c * plane, plane);
                    var sum = 0f;
                    for (var y = y0; y < y1; y++)
                    {
                        var row = channel.Slice(y * size, size);
                        for (var x = x0; x < x1; x++)
                        {
                            sum += row[x];
                        }
                    }

                    var value = (sum / count * Std[c] + Mean[c]) * 255f;
                    rgb[((ty * side) + tx) * 3 + c] = (byte)Math.Clamp((int)MathF.Round(value), 0, 255);
                }
            }
        }

        return rgb;
    }
}

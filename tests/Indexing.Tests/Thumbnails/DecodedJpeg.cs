using System.Runtime.CompilerServices;
using JpegLibrary;

namespace TempMe.Pipeline.Indexing.Tests.Thumbnails;

/// <summary>A JPEG decoded by JpegLibrary's decoder (not the encoder under test's code): its size and its pixels as RGB.</summary>
internal sealed class DecodedJpeg
{
    private DecodedJpeg(int width, int height, byte[] rgb)
    {
        Width = width;
        Height = height;
        Rgb = rgb;
    }

    public int Width { get; }

    public int Height { get; }

    /// <summary>Interleaved RGB, row by row.</summary>
    public byte[] Rgb { get; }

    /// <summary>The mean of each channel over the image.</summary>
    public (double R, double G, double B) Mean()
    {
        double r = 0, g = 0, b = 0;
        for (var i = 0; i < Rgb.Length; i += 3)
        {
            r += Rgb[i];
            g += Rgb[i + 1];
            b += Rgb[i + 2];
        }

        var n = Rgb.Length / 3.0;
        return (r / n, g / n, b / n);
    }

    /// <summary>Checks the SOI and EOI markers, then decodes.</summary>
    public static DecodedJpeg Decode(byte[] jpeg)
    {
        Assert.True(jpeg.Length > 4, "too short for a JPEG");
        Assert.Equal([0xFF, 0xD8], jpeg[..2]);
        Assert.Equal([0xFF, 0xD9], jpeg[^2..]);
        var decoder = new JpegDecoder();
        decoder.SetInput(jpeg);
        decoder.Identify();
        var (width, height) = (decoder.Width, decoder.Height);
        Assert.Equal(3, decoder.NumberOfComponents);
        var writer = new PlaneWriter(width, height);
        decoder.SetOutputWriter(writer);
        decoder.Decode();
        return new DecodedJpeg(width, height, writer.ToRgb());
    }

    /// <summary>Collects the decoder's Y, Cb and Cr blocks into planes.</summary>
    private sealed class PlaneWriter(int width, int height) : JpegBlockOutputWriter
    {
        private readonly byte[][] _planes = [new byte[width * height], new byte[width * height], new byte[width * height]];

        public override void WriteBlock(ref short blockRef, int componentIndex, int x, int y)
        {
            for (var row = 0; row < 8 && y + row < height; row++)
            {
                for (var column = 0; column < 8 && x + column < width; column++)
                {
                    var value = Unsafe.Add(ref blockRef, (row * 8) + column);
                    _planes[componentIndex][((y + row) * width) + x + column] = (byte)Math.Clamp((int)value, 0, 255);
                }
            }
        }

        public byte[] ToRgb()
        {
            var rgb = new byte[width * height * 3];
            for (var i = 0; i < width * height; i++)
            {
                double luma = _planes[0][i], cb = _planes[1][i] - 128.0, cr = _planes[2][i] - 128.0;
                rgb[i * 3] = Clamp(luma + (1.402 * cr));
                rgb[(i * 3) + 1] = Clamp(luma - (0.344136 * cb) - (0.714136 * cr));
                rgb[(i * 3) + 2] = Clamp(luma + (1.772 * cb));
            }

            return rgb;
        }

        private static byte Clamp(double v) => (byte)Math.Clamp((int)Math.Round(v), 0, 255);
    }
}

using TempMe.Pipeline.Indexing.Thumbnails;

namespace TempMe.Pipeline.Indexing.Tests.Thumbnails;

/// <summary>The thumbnail JPEG of a sampled frame, decoded again by JpegLibrary's decoder.</summary>
public sealed class ThumbnailEncoderTests
{
    private static readonly float[] Mean = [0.48145466f, 0.4578275f, 0.40821073f];
    private static readonly float[] Std = [0.26862954f, 0.26130258f, 0.27577711f];

    /// <summary>Frames <c>[T, 3, S, S]</c> normalised as the sampler does, each pixel's colour given by <paramref name="colour"/>(frame, x, y).</summary>
    private static float[] Frames(int count, int size, Func<int, int, int, (byte R, byte G, byte B)> colour)
    {
        var plane = size * size;
        var frames = new float[count * 3 * plane];
        for (var t = 0; t < count; t++)
        {
            for (var y = 0; y < size; y++)
            {
                for (var x = 0; x < size; x++)
                {
                    var (r, g, b) = colour(t, x, y);
                    byte[] rgb = [r, g, b];
                    for (var c = 0; c < 3; c++)
                    {
                        frames[(t * 3 * plane) + (c * plane) + (y * size) + x] = ((rgb[c] / 255f) - Mean[c]) / Std[c];
                    }
                }
            }
        }

        return frames;
    }

    [Fact]
    public void A_224_pixel_frame_becomes_a_160_pixel_jpeg_of_the_chosen_frame_with_its_colours_in_place()
    {
        // Frame 1 (the middle of three) is red on the left, blue on the right; the others are green.
        var frames = Frames(3, 224, (t, x, _) => t != 1 ? ((byte)0, (byte)200, (byte)0) : x < 112 ? ((byte)220, (byte)30, (byte)40) : ((byte)20, (byte)40, (byte)210));

        var jpeg = ThumbnailEncoder.Encode(frames, 224, 1);

        var image = DecodedJpeg.Decode(jpeg);
        Assert.Equal((160, 160), (image.Width, image.Height));
        Assert.InRange(jpeg.Length, 200, 16 * 1024);
        var left = Pixel(image, 40, 80);
        var right = Pixel(image, 120, 80);
        AssertNear((220, 30, 40), left);
        AssertNear((20, 40, 210), right);
    }

    [Theory]
    [InlineData(64)]
    [InlineData(100)]
    public void A_frame_no_larger_than_160_pixels_keeps_its_size_even_when_not_a_multiple_of_8(int size)
    {
        var frames = Frames(1, size, (_, _, _) => (120, 90, 60));

        var image = DecodedJpeg.Decode(ThumbnailEncoder.Encode(frames, size, 0));

        Assert.Equal((size, size), (image.Width, image.Height));
        var (r, g, b) = image.Mean();
        AssertNear((120, 90, 60), ((byte)Math.Round(r), (byte)Math.Round(g), (byte)Math.Round(b)));
    }

    [Fact]
    public void A_frame_outside_the_tensor_is_refused()
    {
        var frames = Frames(2, 8, (_, _, _) => (0, 0, 0));

        Assert.Throws<ArgumentOutOfRangeException>(() => ThumbnailEncoder.Encode(frames, 8, 2));
        Assert.Throws<ArgumentOutOfRangeException>(() => ThumbnailEncoder.Encode(frames, 8, -1));
    }

    [Theory]
    [InlineData("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef.jpg", true)]
    [InlineData("0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef.jpg", false)]
    [InlineData("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde.jpg", false)]
    [InlineData("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef.png", false)]
    [InlineData("../index.json", false)]
    [InlineData("..%2Findex.json", false)]
    [InlineData("", false)]
    public void Only_a_64_digit_lower_case_hash_and_jpg_names_a_thumbnail(string file, bool valid)
    {
        var sha = ThumbnailNames.HashOfFileName(file);

        Assert.Equal(valid, sha is not null);
        if (sha is not null)
        {
            Assert.Equal($"thumbnails/01/{sha}.jpg", ThumbnailNames.For(sha));
        }
    }

    private static (byte R, byte G, byte B) Pixel(DecodedJpeg image, int x, int y)
    {
        var i = ((y * image.Width) + x) * 3;
        return (image.Rgb[i], image.Rgb[i + 1], image.Rgb[i + 2]);
    }

    private static void AssertNear((int R, int G, int B) expected, (byte R, byte G, byte B) actual)
    {
        const int tolerance = 12; // JPEG at quality 80 on flat areas
        Assert.True(
            Math.Abs(expected.R - actual.R) <= tolerance && Math.Abs(expected.G - actual.G) <= tolerance && Math.Abs(expected.B - actual.B) <= tolerance,
            $"expected about {expected}, decoded {actual}");
    }
}

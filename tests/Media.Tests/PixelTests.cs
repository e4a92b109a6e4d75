using TempMe.Pipeline.Contracts;

namespace TempMe.Pipeline.Media.Tests;

/// <summary>Checks normalised pixels against an expected RGB colour.</summary>
internal static class PixelAssert
{
    /// <summary>
    /// Tolerance, in 8-bit levels before normalisation: 6. Flat colours go RGB → limited-range yuv420p (luma rounds to
    /// one level, chroma is shared by 2×2 pixels and rounds again) → h264 (ultrafast, CRF 23: flat blocks survive to
    /// within a level or two) → RGB; measured errors on these clips are at most 3 levels away from edges. 6 levels is
    /// 0.09 in normalised units, far below the ≈ 1.8 to 3.7 that separate any two of the test colours in some channel.
    /// </summary>
    public const double Levels = 6;

    public static void Colour(FrameSample sample, int frame, int x, int y, (byte R, byte G, byte B) rgb)
    {
        const int size = 224;
        float[] mean = [0.48145466f, 0.4578275f, 0.40821073f];
        float[] std = [0.26862954f, 0.26130258f, 0.27577711f];
        byte[] expected = [rgb.R, rgb.G, rgb.B];
        for (var c = 0; c < 3; c++)
        {
            var value = sample.Frames![(((frame * 3) + c) * size * size) + (y * size) + x];
            var level = ((value * std[c]) + mean[c]) * 255;
            Assert.True(Math.Abs(level - expected[c]) <= Levels,
                $"frame {frame} pixel ({x},{y}) channel {c}: level {level:0.0}, expected {expected[c]} ± {Levels}");
        }
    }
}

[Collection(VideoCollection.Name)]
public sealed class PixelTests(Videos videos)
{
    private static readonly (byte, byte, byte) Red = (255, 0, 0);
    private static readonly (byte, byte, byte) Green = (0, 255, 0);
    private static readonly (byte, byte, byte) Blue = (0, 0, 255);
    private static readonly (byte, byte, byte) White = (255, 255, 255);
    private readonly FfmpegFrameSampler _sampler = new();

    [Fact]
    public async Task Quadrants_land_where_resize_and_centre_crop_put_them()
    {
        // 320x240 → 298x224 (bicubic), crop x from 37: the quadrant edges fall at x = 149 − 37 = 112 and y = 112.
        // Pixels 40+ away from any edge are flat colour.
        var sample = await _sampler.SampleAsync(await videos.Quadrants, SamplingSettings.Default with { Frames = 2 }, CancellationToken.None);
        Assert.True(sample.Succeeded, sample.Message);
        foreach (var frame in new[] { 0, 1 })
        {
            PixelAssert.Colour(sample, frame, 56, 56, Red);
            PixelAssert.Colour(sample, frame, 168, 56, Green);
            PixelAssert.Colour(sample, frame, 56, 168, Blue);
            PixelAssert.Colour(sample, frame, 168, 168, White);
            PixelAssert.Colour(sample, frame, 5, 5, Red);
            PixelAssert.Colour(sample, frame, 218, 218, White);
        }
    }

    [Fact]
    public async Task Rotated_portrait_video_comes_out_upright()
    {
        var sample = await _sampler.SampleAsync(await videos.QuadrantsRotated, SamplingSettings.Default with { Frames = 1 }, CancellationToken.None);
        Assert.True(sample.Succeeded, sample.Message);
        Assert.Equal(90, sample.Probe.Rotation);
        Assert.Equal((320, 240), (sample.Probe.Width, sample.Probe.Height)); // coded size, before rotation
        // Turned 90° counter-clockwise: the old top-right is now top-left, and so on. On screen 240x320 → 224x298,
        // crop y from 37.
        PixelAssert.Colour(sample, 0, 56, 56, Green);
        PixelAssert.Colour(sample, 0, 168, 56, White);
        PixelAssert.Colour(sample, 0, 56, 168, Red);
        PixelAssert.Colour(sample, 0, 168, 168, Blue);
    }

    [Fact]
    public async Task Non_square_pixels_are_stretched_to_display_aspect_before_the_crop()
    {
        // 160x120 at SAR 2 shows as 320x120 → 597x224, crop x from 186. Red covers display x < 120, i.e. scaled
        // x < 224 → output x < 38. Ignoring the SAR would give 298x224, crop 37, red up to x = 75.
        var sample = await _sampler.SampleAsync(await videos.WidePixels, SamplingSettings.Default with { Frames = 1 }, CancellationToken.None);
        Assert.True(sample.Succeeded, sample.Message);
        PixelAssert.Colour(sample, 0, 15, 112, Red);
        PixelAssert.Colour(sample, 0, 60, 112, Blue);
        PixelAssert.Colour(sample, 0, 200, 112, Blue);
    }
}

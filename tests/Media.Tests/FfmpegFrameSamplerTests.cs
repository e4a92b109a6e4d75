using TempMe.Pipeline.Contracts;
using TempMe.Pipeline.Media.Internal;

namespace TempMe.Pipeline.Media.Tests;

[Collection(VideoCollection.Name)]
public sealed class FfmpegFrameSamplerTests(Videos videos)
{
    private const int Size = 224;
    private const int FloatsPerFrame = 3 * Size * Size;
    private static readonly long[] FiveSecondsAt25 = [0, 11, 22, 33, 45, 56, 67, 78, 90, 101, 112, 124];
    private readonly FfmpegFrameSampler _sampler = new();

    private static Task<FrameSample> Sample(FfmpegFrameSampler sampler, string path, int frames = 12) =>
        sampler.SampleAsync(path, SamplingSettings.Default with { Frames = frames }, CancellationToken.None);

    private static void AssertOk(FrameSample sample, int frames = 12)
    {
        Assert.True(sample.Succeeded, $"{sample.ErrorCode}: {sample.Message}");
        Assert.Null(sample.ErrorCode);
        Assert.Equal(frames * FloatsPerFrame, sample.Frames!.Length);
        Assert.Equal(frames, sample.FrameIndices.Count);
        Assert.Equal(frames, sample.TimestampsSeconds.Count);
        Assert.All(sample.Frames, v => Assert.InRange(v, -1.8f, 2.2f)); // (0 − 0.48)/0.27 … (1 − 0.41)/0.26
        Assert.True(sample.DecodeSeconds > 0);
    }

    private static ReadOnlySpan<float> Frame(FrameSample sample, int t) => sample.Frames.AsSpan(t * FloatsPerFrame, FloatsPerFrame);

    [Fact]
    public async Task H264_mp4_5s_25fps_takes_frames_from_the_formula()
    {
        var sample = await Sample(_sampler, await videos.H264Mp4Five);
        AssertOk(sample);
        Assert.Equal(FiveSecondsAt25, sample.FrameIndices);
        Assert.Equal(FrameScheduleTests.Expected(125, 25, 12), sample.FrameIndices);
        Assert.Equal(125, sample.Probe.FrameCount);
        Assert.Equal("container", sample.Probe.FrameCountSource);
        Assert.Equal(25, sample.Probe.FramesPerSecond);
        Assert.Equal(5, sample.Probe.DurationSeconds!.Value, 2);
        Assert.Equal((160, 120, 0, "h264"), (sample.Probe.Width, sample.Probe.Height, sample.Probe.Rotation, sample.Probe.Codec));
        Assert.Equal(FiveSecondsAt25.Select(k => k / 25.0), sample.TimestampsSeconds, (a, b) => Math.Abs(a - b) < 1e-3);
        Assert.Empty(sample.Warnings);
    }

    [Fact]
    public async Task Half_second_video_uses_all_original_frames_and_repeats_when_fewer_than_T()
    {
        var path = await videos.H264Mp4Half;
        var sample = await Sample(_sampler, path);
        AssertOk(sample);
        Assert.Equal(13, sample.Probe.FrameCount);
        // 1 candidate (frame 0) < 12, so linspace(0, 12, 12): step 12/11.
        Assert.Equal([0L, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12], sample.FrameIndices);

        var twenty = await Sample(_sampler, path, 20);
        AssertOk(twenty, 20);
        var expected = FrameScheduleTests.Expected(13, 25, 20);
        Assert.Equal(expected, twenty.FrameIndices);
        var repeats = 0;
        for (var t = 1; t < 20; t++)
        {
            if (expected[t] == expected[t - 1])
            {
                repeats++;
                Assert.True(Frame(twenty, t).SequenceEqual(Frame(twenty, t - 1)), $"frame {t} should repeat frame {t - 1}");
            }
        }

        Assert.Equal(7, repeats); // 20 picks over 13 frames
        // The same original frame decodes to the same tensor whatever T is: frame 12 is last in both.
        Assert.True(Frame(twenty, 19).SequenceEqual(Frame(sample, 11)));
    }

    [Fact]
    public async Task Matroska_90s_counts_packets_and_picks_one_frame_per_second_candidates()
    {
        var sample = await Sample(_sampler, await videos.H264MkvNinety);
        AssertOk(sample);
        Assert.Equal(2250, sample.Probe.FrameCount);
        Assert.Equal("counted", sample.Probe.FrameCountSource);
        Assert.Equal([0L, 200, 400, 600, 800, 1000, 1200, 1400, 1600, 1800, 2000, 2225], sample.FrameIndices);
        Assert.Equal(sample.FrameIndices.Select(k => k / 25.0), sample.TimestampsSeconds, (a, b) => Math.Abs(a - b) < 1e-3);
    }

    [Fact]
    public async Task Seek_and_select_give_identical_frames()
    {
        var path = await videos.H264MkvNinety;
        var settings = SamplingSettings.Default;
        var seek = await _sampler.SampleAsync(path, settings, DecodeStrategy.Seek, CancellationToken.None);
        var select = await _sampler.SampleAsync(path, settings, DecodeStrategy.Select, CancellationToken.None);
        AssertOk(seek);
        AssertOk(select);
        Assert.Equal(select.FrameIndices, seek.FrameIndices);
        Assert.Equal(select.TimestampsSeconds, seek.TimestampsSeconds, (a, b) => Math.Abs(a - b) < 1e-3);
        Assert.True(select.Frames.AsSpan().SequenceEqual(seek.Frames), "seek and select decode different pixels");
        // testsrc moves: different seconds really are different pictures, so the comparison above can fail.
        Assert.False(Frame(select, 0).SequenceEqual(Frame(select, 1)));
    }

    [Fact]
    public async Task Vp9_webm_without_container_count_is_counted()
    {
        var sample = await Sample(_sampler, await videos.Vp9WebmFive);
        AssertOk(sample);
        Assert.Equal("vp9", sample.Probe.Codec);
        Assert.Equal(125, sample.Probe.FrameCount);
        Assert.Equal("counted", sample.Probe.FrameCountSource);
        Assert.Equal(FiveSecondsAt25, sample.FrameIndices);
    }

    [Fact]
    public async Task Mpeg4_avi_at_29_97_fps_strides_by_30()
    {
        var sample = await Sample(_sampler, await videos.Mpeg4AviNtsc);
        AssertOk(sample);
        Assert.Equal("mpeg4", sample.Probe.Codec);
        Assert.Equal(30000.0 / 1001, sample.Probe.FramesPerSecond!.Value, 6);
        var n = sample.Probe.FrameCount!.Value;
        Assert.InRange(n, 449, 450);
        Assert.Equal("container", sample.Probe.FrameCountSource);
        Assert.Equal([0L, 30, 60, 90, 150, 180, 210, 240, 300, 330, 360, 420], sample.FrameIndices);
        Assert.Equal(sample.FrameIndices.Select(k => k * 1001 / 30000.0), sample.TimestampsSeconds, (a, b) => Math.Abs(a - b) < 1e-3);
    }

    [Fact]
    public async Task Variable_frame_rate_uses_the_average_rate_and_real_timestamps()
    {
        var sample = await Sample(_sampler, await videos.VariableRate);
        AssertOk(sample);
        Assert.Equal(80, sample.Probe.FrameCount);
        Assert.Equal(20, sample.Probe.FramesPerSecond!.Value, 1);
        // stride round(20) = 20 → 4 candidates < 12 → linspace(0, 79, 12).
        long[] expected = [0, 7, 14, 21, 28, 35, 43, 50, 57, 64, 71, 79];
        Assert.Equal(expected, sample.FrameIndices);
        // Frames 0-19 are 0.1 s apart, later ones 1/30 s: nominal fps would put frame 79 at 2.63 s or 3.95 s, not 3.97 s.
        var times = expected.Select(k => k < 20 ? k * 0.1 : 2 + ((k - 20) / 30.0));
        Assert.Equal(times, sample.TimestampsSeconds, (a, b) => Math.Abs(a - b) < 2e-3);
    }

    [Fact]
    public async Task Four_k_video_with_five_frames_repeats_frames()
    {
        var sample = await Sample(_sampler, await videos.FourK);
        AssertOk(sample);
        Assert.Equal((3840, 2160), (sample.Probe.Width, sample.Probe.Height));
        Assert.Equal([0L, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 4], sample.FrameIndices);
    }

    [Fact]
    public async Task One_pixel_video_fills_the_crop_with_its_colour()
    {
        var sample = await Sample(_sampler, await videos.OnePixel, 2);
        AssertOk(sample, 2);
        Assert.Equal((1, 1), (sample.Probe.Width, sample.Probe.Height));
        PixelAssert.Colour(sample, 0, 112, 112, (255, 0, 0));
        PixelAssert.Colour(sample, 1, 0, 0, (255, 0, 0));
        PixelAssert.Colour(sample, 1, 223, 223, (255, 0, 0));
    }

    /// <summary>
    /// One case per extension that the local lister picks up (LocalSourceLister.VideoExtensions), each in the container
    /// ffmpeg's muxer makes for it, so the demuxer whitelist is known to cover every one of them. mp4, mkv, webm and avi
    /// are covered above; .mpeg is a raw MPEG-2 elementary stream and .m4v a raw MPEG-4 one (their own demuxers).
    /// </summary>
    [Theory]
    [InlineData(".mov", "-c:v libx264 -preset ultrafast -pix_fmt yuv420p")]
    [InlineData(".m4v", "-c:v mpeg4 -f m4v")]
    [InlineData(".mpg", "-c:v mpeg1video -f mpeg")]
    [InlineData(".mpeg", "-c:v mpeg2video -f mpeg2video")]
    [InlineData(".wmv", "-c:v wmv2 -f asf")]
    [InlineData(".flv", "-c:v flv1 -f flv")]
    [InlineData(".3gp", "-c:v mpeg4 -f 3gp")]
    [InlineData(".ts", "-c:v libx264 -preset ultrafast -pix_fmt yuv420p -f mpegts")]
    public async Task Every_listed_extension_decodes(string extension, string options)
    {
        var sample = await Sample(_sampler, await videos.InContainer(extension, options), 4);
        AssertOk(sample, 4);
        Assert.InRange(sample.Probe.FrameCount!.Value, 24, 26);
    }

    [Fact]
    public async Task Audio_only_is_not_a_video() =>
        AssertFailed(await Sample(_sampler, await videos.AudioOnly), ErrorCodes.NotAVideo);

    [Fact]
    public async Task Zero_bytes_is_an_empty_file() =>
        AssertFailed(await Sample(_sampler, await videos.Empty), ErrorCodes.EmptyFile);

    [Fact]
    public async Task Random_bytes_named_mp4_are_not_a_video() =>
        AssertFailed(await Sample(_sampler, await videos.RandomBytes), ErrorCodes.NotAVideo);

    [Fact]
    public async Task Text_named_mp4_is_not_a_video() =>
        AssertFailed(await Sample(_sampler, await videos.TextFile), ErrorCodes.NotAVideo);

    [Fact]
    public async Task Missing_file_is_not_found() =>
        AssertFailed(await Sample(_sampler, Path.Combine(videos.Folder, "no-such-video.mp4")), ErrorCodes.NotFound);

    [Fact]
    public async Task Mp4_cut_before_its_index_is_corrupt()
    {
        var sample = await Sample(_sampler, await videos.TruncatedNoIndex);
        AssertFailed(sample, ErrorCodes.Corrupt);
        Assert.Contains("moov atom not found", sample.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Mp4_cut_in_half_with_index_in_front_succeeds_with_a_warning_and_repeats_the_last_frame()
    {
        var sample = await Sample(_sampler, await videos.TruncatedFastStart);
        AssertOk(sample);
        Assert.Equal(125, sample.Probe.FrameCount); // the index still promises every frame
        var warning = Assert.Single(sample.Warnings);
        Assert.Contains("chosen frames could be decoded", warning, StringComparison.Ordinal);

        // A prefix of the planned frames came out; the rest repeat the last one decoded.
        var delivered = sample.FrameIndices.Distinct().Count();
        Assert.InRange(delivered, 2, 11);
        Assert.Equal(FiveSecondsAt25[..delivered], sample.FrameIndices.Take(delivered));
        for (var t = delivered; t < 12; t++)
        {
            Assert.Equal(FiveSecondsAt25[delivered - 1], sample.FrameIndices[t]);
            Assert.True(Frame(sample, t).SequenceEqual(Frame(sample, delivered - 1)));
        }
    }

    [Fact]
    public async Task Missing_programs_are_reported_as_decoder_missing()
    {
        var sampler = new FfmpegFrameSampler(new FfmpegFrameSamplerOptions { FfprobePath = "/nonexistent/ffprobe", FfmpegPath = "/nonexistent/ffmpeg" });
        var sample = await Sample(sampler, await videos.H264Mp4Five);
        AssertFailed(sample, ErrorCodes.DecoderMissing);
        // Started through prlimit, which cannot exec it: still named, still decoder_missing.
        Assert.Contains("/nonexistent/ffprobe", sample.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Concurrent_calls_give_the_same_answers_as_one_at_a_time()
    {
        string[] paths = [await videos.H264Mp4Five, await videos.Vp9WebmFive, await videos.H264Mp4Five, await videos.AudioOnly];
        var alone = new List<FrameSample>();
        foreach (var path in paths)
        {
            alone.Add(await Sample(_sampler, path));
        }

        var together = await Task.WhenAll(paths.Select(p => Task.Run(() => Sample(_sampler, p))));
        for (var i = 0; i < paths.Length; i++)
        {
            Assert.Equal(alone[i].ErrorCode, together[i].ErrorCode);
            Assert.Equal(alone[i].FrameIndices, together[i].FrameIndices);
            Assert.Equal(alone[i].Frames, together[i].Frames);
        }
    }

    private static void AssertFailed(FrameSample sample, string code)
    {
        Assert.False(sample.Succeeded);
        Assert.Equal(code, sample.ErrorCode);
        Assert.False(string.IsNullOrWhiteSpace(sample.Message));
        Assert.Null(sample.Frames);
    }
}

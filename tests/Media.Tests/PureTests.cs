using System.Text.Json;
using TempMe.Pipeline.Media.Internal;

namespace TempMe.Pipeline.Media.Tests;

public sealed class ResizePlanTests
{
    [Theory]
    // 320x240: short side 240 → 224, long int(224*320/240) = 298; crop x = round(74/2) = 37.
    [InlineData(320, 240, 1.0, 0, 298, 224, 37, 0)]
    // Turned 90°: 240x320 on screen.
    [InlineData(320, 240, 1.0, 90, 224, 298, 0, 37)]
    // SAR 2: 160x120 shows as 320x120 → 597x224; crop x = round(373/2) = round(186.5) = 186 (half to even).
    [InlineData(160, 120, 2.0, 0, 597, 224, 186, 0)]
    // 1x1 → 224x224, nothing to crop.
    [InlineData(1, 1, 1.0, 0, 224, 224, 0, 0)]
    // 4K: 3840x2160 → int(224*3840/2160) = 398; crop x = 87.
    [InlineData(3840, 2160, 1.0, 0, 398, 224, 87, 0)]
    // Portrait phone frame coded 1920x1080 turned 270°.
    [InlineData(1920, 1080, 1.0, 270, 224, 398, 0, 87)]
    public void Sizes_like_torchvision(int w, int h, double sar, int rotation, int sw, int sh, int x, int y)
    {
        var plan = ResizePlan.For(w, h, sar, rotation, 224);
        Assert.Equal(new ResizePlan(sw, sh, x, y, 224), plan);
        Assert.Equal($"scale={sw}:{sh}:flags=bicubic,setsar=1,crop=224:224:{x}:{y}", plan.ToFilter());
    }
}

public sealed class ClipNormalizerTests
{
    [Fact]
    public void Planes_match_the_scalar_formula_for_every_byte_value()
    {
        // 256 + 7 pixels: every byte value in each channel, plus a tail shorter than a vector.
        const int pixels = 263;
        var rgb = new byte[pixels * 3];
        for (var p = 0; p < pixels; p++)
        {
            rgb[3 * p] = (byte)p;
            rgb[(3 * p) + 1] = (byte)(255 - (p % 256));
            rgb[(3 * p) + 2] = (byte)((p * 7) % 256);
        }

        var planar = new float[pixels * 3];
        ClipNormalizer.NormalizeFrame(rgb, planar);
        float[] mean = [0.48145466f, 0.4578275f, 0.40821073f];
        float[] std = [0.26862954f, 0.26130258f, 0.27577711f];
        for (var c = 0; c < 3; c++)
        {
            for (var p = 0; p < pixels; p++)
            {
                var expected = ((rgb[(3 * p) + c] / 255f) - mean[c]) / std[c];
                Assert.Equal(expected, planar[(c * pixels) + p]);
            }
        }
    }

    [Fact]
    public void Rejects_mismatched_lengths() =>
        Assert.Throws<ArgumentException>(() => ClipNormalizer.NormalizeFrame(new byte[6], new float[5]));
}

public sealed class ProbeResultTests
{
    [Theory]
    [InlineData(90, 90)]
    [InlineData(-90, 270)]
    [InlineData(-180, 180)]
    [InlineData(180, 180)]
    [InlineData(270, 270)]
    [InlineData(-270, 90)]
    [InlineData(360, 0)]
    [InlineData(89.9, 90)]
    public void Rotation_is_a_positive_quarter_turn(double degrees, int expected) =>
        Assert.Equal(expected, ProbeResult.NormaliseRotation(degrees));

    [Fact]
    public void Reads_the_first_video_stream_and_skips_cover_art()
    {
        const string json = """
            {"streams":[
              {"index":0,"codec_type":"audio","codec_name":"aac"},
              {"index":1,"codec_type":"video","codec_name":"mjpeg","width":300,"height":300,"disposition":{"attached_pic":1}},
              {"index":2,"codec_type":"video","codec_name":"h264","width":1920,"height":1080,"sample_aspect_ratio":"4:3",
               "avg_frame_rate":"30000/1001","r_frame_rate":"30000/1001","nb_frames":"900","duration":"30.030000",
               "side_data_list":[{"side_data_type":"Display Matrix","rotation":-90}]}],
             "format":{"duration":"31.0"}}
            """;
        var probe = ProbeResult.Parse(json);
        Assert.Equal(2, probe.VideoStreamIndex);
        Assert.Equal("h264", probe.Codec);
        Assert.Equal(4.0 / 3, probe.SampleAspectRatio, 12);
        Assert.Equal(30000.0 / 1001, probe.AverageFrameRate!.Value, 12);
        Assert.Equal(900, probe.ContainerFrameCount);
        Assert.Equal(30.03, probe.DurationSeconds!.Value, 9);
        Assert.Equal(270, probe.Rotation);
    }

    [Fact]
    public void Old_rotate_tags_count_clockwise()
    {
        var probe = ProbeResult.Parse("""{"streams":[{"index":0,"codec_type":"video","codec_name":"h264","tags":{"rotate":"90"}}],"format":{}}""");
        Assert.Equal(270, probe.Rotation);
    }

    [Theory]
    [InlineData("""{"streams":[{"index":0,"codec_type":"video","codec_name":"h264"}]}""")]
    [InlineData("""{"streams":[{"index":0,"codec_type":"video","codec_name":"h264","sample_aspect_ratio":"1:1","display_aspect_ratio":"N/A"}],"format":{}}""")]
    [InlineData("""{"streams":[{"index":"zero","codec_type":"video"}],"format":{}}""")]
    [InlineData("not json")]
    public void Output_FFMpegCore_cannot_read_is_a_json_error(string json) =>
        Assert.ThrowsAny<JsonException>(() => ProbeResult.Parse(json));

    [Fact]
    public void Reports_no_video_for_audio_only()
    {
        var probe = ProbeResult.Parse("""{"streams":[{"index":0,"codec_type":"audio","codec_name":"aac"}],"format":{"duration":"2.0"}}""");
        Assert.Null(probe.VideoStreamIndex);
        Assert.Equal(1, probe.StreamCount);
        Assert.Equal(2.0, probe.DurationSeconds);
    }

    [Theory]
    [InlineData("25/1", 25.0)]
    [InlineData("0/0", null)]
    [InlineData("1:1", 1.0)]
    [InlineData("N/A", null)]
    [InlineData("", null)]
    public void Parses_ratios(string text, double? expected) => Assert.Equal(expected, ProbeResult.ParseRatio(text));
}

public sealed class ContainerSnifferTests
{
    [Fact]
    public void Knows_mp4_mkv_and_avi_heads_and_not_text()
    {
        Assert.True(ContainerSniffer.LooksLikeVideoContainer("\0\0\0\u0020ftypisom"u8));
        Assert.True(ContainerSniffer.LooksLikeVideoContainer([0x1A, 0x45, 0xDF, 0xA3, 0x01]));
        Assert.True(ContainerSniffer.LooksLikeVideoContainer("RIFF\0\0\0\0AVI LIST"u8));
        Assert.False(ContainerSniffer.LooksLikeVideoContainer("this is not a video"u8));
        Assert.False(ContainerSniffer.LooksLikeVideoContainer([]));
    }
}

public sealed class InputGuardTests
{
    [Theory]
    [InlineData("[hls @ 0x559d2bc41700] Format not on whitelist 'mov,mp4'\nfile:/x/evil.mp4: Invalid argument", "hls")]
    [InlineData("[concat @ 0x55abd61bd700] [error] Format not on whitelist 'mov'", "concat")]
    [InlineData("[mov,mp4,m4a,3gp,3g2,mj2 @ 0x1] stream 0, offset 0x30: partial file", null)]
    [InlineData("", null)]
    public void Reads_the_refused_demuxer(string stderr, string? expected) =>
        Assert.Equal(expected, InputGuard.RefusedFormat(stderr));

    [Fact]
    public void Reads_the_largest_refused_picture()
    {
        const string stderr = """
            [png @ 0x5596] [IMGUTILS @ 0x7ffd] Picture size 0x0 is invalid
            [png @ 0x5596] [IMGUTILS @ 0x7ffd] [error] Picture size 16000x16000 exceeds specified max pixel count 67108864, see the documentation if you wish to increase it
            [png @ 0x5614] [IMGUTILS @ 0x7ffc] Picture size 16384x200 is invalid
            """;
        Assert.Equal((16000L, 16000L), InputGuard.LargestRefusedPicture(stderr));
        Assert.Null(InputGuard.LargestRefusedPicture("[error] Invalid data found when processing input"));
    }

    [Fact]
    public void Every_input_is_restricted_and_the_output_is_a_pipe()
    {
        var sampler = new FfmpegFrameSampler(new FfmpegFrameSamplerOptions { MaxFramePixels = 1000 });
        var plan = ResizePlan.For(320, 240, 1, 0, 224);
        foreach (var arguments in new[]
        {
            sampler.SelectArguments("file:/v.mp4", 0, [0, 5, 9], plan),
            sampler.SeekArguments("file:/v.mp4", 0, [0, 5, 9], 25, plan),
        })
        {
            var inputs = Enumerable.Range(0, arguments.Count).Where(i => arguments[i] == "-i").ToList();
            Assert.NotEmpty(inputs);
            var previous = -1;
            foreach (var input in inputs)
            {
                // Each -i gets its own copy of the options, after the previous input.
                var options = arguments[(previous + 1)..input];
                Assert.Equal("file", options[options.IndexOf("-protocol_whitelist") + 1]);
                Assert.Equal(InputGuard.AllowedFormats, options[options.IndexOf("-format_whitelist") + 1]);
                Assert.Equal("1000", options[options.IndexOf("-max_pixels") + 1]);
                previous = input;
            }

            Assert.Equal(["-protocol_whitelist", "pipe", "pipe:1"], arguments[^3..]);
        }

        Assert.DoesNotContain("hls", InputGuard.AllowedFormats.Split(','));
        Assert.DoesNotContain("concat", InputGuard.AllowedFormats.Split(','));
        Assert.DoesNotContain("image2", InputGuard.AllowedFormats.Split(','));
    }

    [Fact]
    public void Memory_bound_wraps_the_program_in_prlimit_only_when_a_limit_is_set()
    {
        var (direct, directArguments) = MemoryBound.Wrap("ffmpeg", ["-i", "x"], 0, "prlimit");
        Assert.Equal("ffmpeg", direct);
        Assert.Equal(["-i", "x"], directArguments);
        var (fileName, arguments) = MemoryBound.Wrap("ffmpeg", ["-i", "x"], 4L << 30, "/usr/bin/prlimit");
        Assert.Equal("/usr/bin/prlimit", fileName);
        Assert.Equal(["--data=4294967296", "--", "ffmpeg", "-i", "x"], arguments);
    }

    [Theory]
    [InlineData(0L)]
    [InlineData(-1L)]
    [InlineData(1L + int.MaxValue)]
    public void Max_frame_pixels_out_of_range_is_refused(long pixels) =>
        Assert.Throws<ArgumentOutOfRangeException>(() => new FfmpegFrameSampler(new FfmpegFrameSamplerOptions { MaxFramePixels = pixels }));

    [Fact]
    public void Negative_memory_limit_is_refused() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => new FfmpegFrameSampler(new FfmpegFrameSamplerOptions { MaxDecoderMemoryBytes = -1 }));
}

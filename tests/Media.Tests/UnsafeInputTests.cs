using TempMe.Pipeline.Contracts;

namespace TempMe.Pipeline.Media.Tests;

/// <summary>
/// Files that make ffmpeg read other files (playlists, scripts, manifests saved as .mp4) and decompression bombs
/// (a few hundred kB that decode to gigabytes). Every file is real: written by ffmpeg or, for frames too large for
/// ffmpeg to make, by <see cref="PngAvi"/>.
/// </summary>
[Collection(VideoCollection.Name)]
public sealed class UnsafeInputTests(Videos videos)
{
    private readonly FfmpegFrameSampler _sampler = new();

    private Task<FrameSample> Sample(string path, FfmpegFrameSampler? sampler = null) =>
        (sampler ?? _sampler).SampleAsync(path, SamplingSettings.Default, CancellationToken.None);

    /// <summary>Fails naming what was read when the sampler gave frames instead of refusing.</summary>
    private static void AssertRefused(FrameSample sample, string code, string what)
    {
        Assert.False(sample.Succeeded,
            $"{what}: sampling returned {sample.FrameIndices.Count} frames (probe: {sample.Probe.Codec} {sample.Probe.Width}x{sample.Probe.Height}, " +
            $"{sample.Probe.FrameCount} frames) instead of failing.");
        Assert.True(code == sample.ErrorCode, $"{what}: expected {code}, got {sample.ErrorCode}: {sample.Message}");
        Assert.Null(sample.Frames);
        Assert.False(string.IsNullOrWhiteSpace(sample.Message));
    }

    [Fact]
    public async Task Hls_playlist_named_mp4_is_not_a_video_and_its_segment_is_not_read()
    {
        var sample = await Sample(await videos.HlsPlaylistNamedMp4);
        AssertRefused(sample, ErrorCodes.NotAVideo, $"an HLS playlist naming {await videos.PrivateVideo}");
        Assert.Contains("'hls'", sample.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Ffconcat_script_named_mp4_is_not_a_video_and_the_file_it_names_is_not_read()
    {
        var sample = await Sample(await videos.ConcatScriptNamedMp4);
        AssertRefused(sample, ErrorCodes.NotAVideo, $"an ffconcat script naming {await videos.PrivateVideo}");
        Assert.Contains("'concat'", sample.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Dash_manifest_named_mp4_is_not_a_video_and_its_representation_is_not_read()
    {
        var sample = await Sample(await videos.DashManifestNamedMp4);
        AssertRefused(sample, ErrorCodes.NotAVideo, $"a DASH manifest naming {await videos.PrivateVideo}");
        Assert.Contains("'dash'", sample.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_file_the_playlists_name_is_itself_a_readable_video()
    {
        // Without this, the refusals above could come from a target ffmpeg cannot read at all.
        var sample = await Sample(await videos.PrivateVideo);
        Assert.True(sample.Succeeded, $"{sample.ErrorCode}: {sample.Message}");
    }

    [Fact]
    public async Task Small_png_frame_in_avi_decodes()
    {
        // Control for the bombs below: the hand-written AVI and PNG are valid, so only their size can refuse them.
        var sample = await Sample(await videos.PngAviSmall);
        Assert.True(sample.Succeeded, $"{sample.ErrorCode}: {sample.Message}");
        Assert.Equal(("png", 160, 120), (sample.Probe.Codec, sample.Probe.Width, sample.Probe.Height));
        PixelAssert.Colour(sample, 0, 112, 112, (128, 128, 128));
    }

    [Fact]
    public async Task Frame_of_16384x16384_is_too_large()
    {
        var sample = await Sample(await videos.PngAvi16384);
        AssertRefused(sample, ErrorCodes.FrameTooLarge, "a 16384x16384 PNG frame");
        Assert.Contains("16384x16384", sample.Message, StringComparison.Ordinal);
        Assert.False(ErrorCodes.IsRetryable(sample.ErrorCode!));
    }

    [Fact]
    public async Task Frame_of_16000x16000_is_refused_at_probe_before_ffmpeg_decodes_it()
    {
        var decoders = new List<string>();
        void Watch(int pid, string commandLine)
        {
            if (commandLine.Contains("png_16000x16000.avi", StringComparison.Ordinal) && commandLine.Contains("rawvideo", StringComparison.Ordinal))
            {
                lock (decoders)
                {
                    decoders.Add(commandLine);
                }
            }
        }

        var path = await videos.PngAvi16000;
        Internal.ChildProcess.Started += Watch;
        FrameSample sample;
        try
        {
            sample = await Sample(path);
        }
        finally
        {
            Internal.ChildProcess.Started -= Watch;
        }

        AssertRefused(sample, ErrorCodes.FrameTooLarge, "a 16000x16000 PNG frame (1 GB once decoded to RGB)");
        Assert.Contains("16000x16000", sample.Message, StringComparison.Ordinal);
        Assert.Empty(decoders);
    }

    [Fact]
    public async Task Container_stating_160x120_for_a_16000x16000_frame_is_too_large()
    {
        var sample = await Sample(await videos.PngAvi16000StatedSmall);
        AssertRefused(sample, ErrorCodes.FrameTooLarge, "an AVI stating 160x120 around a 16000x16000 PNG frame");
        Assert.Contains("16000x16000", sample.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Decoder_over_its_memory_limit_fails_as_memory_limit_exceeded()
    {
        // Frame size allowed, memory not: a 16000x16000 frame needs about 1 GiB to decode and convert, the limit is 512 MiB.
        var sampler = new FfmpegFrameSampler(new FfmpegFrameSamplerOptions { MaxFramePixels = int.MaxValue, MaxDecoderMemoryBytes = 512L << 20 });
        var sample = await Sample(await videos.PngAvi16000, sampler);
        AssertRefused(sample, ErrorCodes.MemoryLimitExceeded, "a 16000x16000 PNG frame under a 512 MiB limit");
        Assert.Contains("512 MiB", sample.Message, StringComparison.Ordinal);
        Assert.False(ErrorCodes.IsRetryable(sample.ErrorCode!));
    }

    [Fact]
    public async Task Ffmpeg_runs_with_the_data_size_limit_set()
    {
        const long limit = 3L << 30;
        var path = Path.Combine(videos.Folder, "limit-victim.mkv");
        File.Copy(await videos.H264MkvNinety, path, overwrite: true);
        var started = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        void Watch(int pid, string commandLine)
        {
            if (commandLine.Contains(path, StringComparison.Ordinal) && commandLine.Contains("rawvideo", StringComparison.Ordinal))
            {
                started.TrySetResult(pid);
            }
        }

        // -re keeps ffmpeg running (90 s of video at the native rate) while its limits are read.
        var sampler = new FfmpegFrameSampler(new FfmpegFrameSamplerOptions { MaxDecoderMemoryBytes = limit }) { ExtraInputArguments = ["-re"] };
        using var cancel = new CancellationTokenSource();
        Internal.ChildProcess.Started += Watch;
        try
        {
            var run = sampler.SampleAsync(path, SamplingSettings.Default, cancel.Token);
            var pid = await started.Task.WaitAsync(TimeSpan.FromSeconds(60));
            var limits = await LimitsAfterExecAsync(pid, "ffmpeg");
            await cancel.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => run);
            var line = limits.Split('\n').Single(l => l.StartsWith("Max data size", StringComparison.Ordinal));
            Assert.Equal(["Max data size", $"{limit}", $"{limit}", "bytes"], line.Split("  ", StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        }
        finally
        {
            Internal.ChildProcess.Started -= Watch;
        }
    }

    /// <summary>/proc/PID/limits once the process runs <paramref name="program"/> (prlimit sets the limit, then execs it).</summary>
    private static async Task<string> LimitsAfterExecAsync(int pid, string program)
    {
        for (var attempt = 0; attempt < 600; attempt++)
        {
            var commandLine = await File.ReadAllTextAsync($"/proc/{pid}/cmdline");
            if (commandLine.StartsWith(program + "\0", StringComparison.Ordinal))
            {
                return await File.ReadAllTextAsync($"/proc/{pid}/limits");
            }

            await Task.Delay(50);
        }

        throw new InvalidOperationException($"process {pid} never became {program}");
    }

    [Fact]
    public async Task Missing_prlimit_is_decoder_missing_and_names_the_fix()
    {
        var sampler = new FfmpegFrameSampler(new FfmpegFrameSamplerOptions { PrlimitPath = "/nonexistent/prlimit" });
        var sample = await Sample(await videos.H264Mp4Five, sampler);
        AssertRefused(sample, ErrorCodes.DecoderMissing, "a missing prlimit");
        Assert.Contains("/nonexistent/prlimit", sample.Message, StringComparison.Ordinal);
        Assert.Contains("util-linux", sample.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Without_a_memory_limit_ffmpeg_starts_directly()
    {
        var programs = new List<string>();
        void Watch(int pid, string commandLine)
        {
            lock (programs)
            {
                programs.Add(commandLine.Split(' ')[0]);
            }
        }

        var sampler = new FfmpegFrameSampler(new FfmpegFrameSamplerOptions { MaxDecoderMemoryBytes = 0, PrlimitPath = "/nonexistent/prlimit" });
        Internal.ChildProcess.Started += Watch;
        FrameSample sample;
        try
        {
            sample = await Sample(await videos.PrivateVideo, sampler);
        }
        finally
        {
            Internal.ChildProcess.Started -= Watch;
        }

        Assert.True(sample.Succeeded, $"{sample.ErrorCode}: {sample.Message}");
        Assert.DoesNotContain("/nonexistent/prlimit", programs);
    }

    [Fact]
    public async Task A_file_name_with_quotes_and_spaces_is_one_argument_and_decodes_like_the_original()
    {
        // FFMpegCore would write such a name as -i "…" into one command-line string, where the quote ends the argument
        // and the rest becomes ffmpeg options (here: a second output). The sampler passes an argument list instead.
        var original = await videos.H264Mp4Five;
        var folder = Directory.CreateDirectory(Path.Combine(videos.Folder, "quoted names")).FullName;
        var path = Path.Combine(folder, "clip\" -f mp4 -y \"injected.mp4 $(touch x) 'q' \\.mp4");
        File.Copy(original, path, overwrite: true);

        var copy = await Sample(path);
        var reference = await Sample(original);

        Assert.True(copy.Succeeded, $"{copy.ErrorCode}: {copy.Message}");
        Assert.Equal(reference.FrameIndices, copy.FrameIndices);
        Assert.Equal(reference.Frames, copy.Frames);
        Assert.Equal([path], Directory.GetFiles(folder));
        Assert.False(File.Exists(Path.Combine(Environment.CurrentDirectory, "injected.mp4")), "ffmpeg wrote a second output");
    }
}

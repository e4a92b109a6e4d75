using System.Buffers;
using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using TempMe.Pipeline.Contracts;
using TempMe.Pipeline.Media.Internal;

namespace TempMe.Pipeline.Media;

/// <summary>
/// Samples TempMe evaluation frames with the <c>ffprobe</c> and <c>ffmpeg</c> programs: one ffprobe run (two when the
/// container has no frame count) and one ffmpeg process per video, raw RGB frames read from ffmpeg's stdout through a
/// pipe. Resize and crop run in ffmpeg's filter graph; normalisation runs here. Stateless, so safe to call concurrently;
/// bounding the parallelism is the caller's concern.
/// </summary>
/// <remarks>
/// Frame picking. Short or variable-frame-rate videos are decoded in full and the chosen frame numbers kept with
/// <c>select</c>; long constant-frame-rate videos open one input per chosen frame with <c>-ss</c> before <c>-i</c>
/// (keyframe seek, then exact decode up to the frame; the results are bit-identical to <c>select</c>).
/// Measured with <c>tempme bench-decode --runs 3</c> (T = 12; 2 vCPU EPYC shared with other builds, load average
/// 10-17, so absolute figures are noisy; ffmpeg 5.1; testsrc2 encoded with libx264 ultrafast CRF 28, so a keyframe
/// every 250 frames), median seconds: 30 s 720p 29.97 fps: select 2.09, seek 5.87; 10 min 1080p 25 fps: select 41.4
/// (best 30.8), seek 13.2 (best 7.3 in the automatic run). Select decodes all n frames; seek decodes about
/// T × GOP / 2 frames (each seek lands on the keyframe before its frame), which is 1500 frames here, i.e. 60 s at
/// 25 fps: that is where they cross. Hence the switch at 60 s for T = 12, scaled by T / 12 for larger T
/// (<see cref="DefaultSeekMinDurationSeconds"/>). Videos with short GOPs (phones: 1-2 s) favour seeking more.
/// <para>
/// Programs. ffprobe's JSON is read through FFMpegCore's model (<see cref="ProbeResult.Parse"/>), but both programs are
/// started by <see cref="ChildProcess"/>: FFMpegCore 6.0 starts only <c>BinaryFolder/ffmpeg</c> (so no <c>prlimit</c>
/// in front of it), kills only the direct process on cancellation, gives no process id, keeps every output line in
/// memory (Instances' line buffers are unbounded) and quotes file names without escaping them.
/// </para>
/// </remarks>
public sealed class FfmpegFrameSampler : IFrameSampler
{
    /// <summary>Default for <see cref="FfmpegFrameSamplerOptions.SeekMinDurationSeconds"/>.</summary>
    public const double DefaultSeekMinDurationSeconds = 60;

    /// <summary>
    /// Default for <see cref="FfmpegFrameSamplerOptions.MaxFramePixels"/>: 8192 × 8192 (67 Mpx). 4K and 8K UHD pass;
    /// a 16384 × 16384 frame (268 Mpx, 1 GB as RGB) does not.
    /// </summary>
    public const long DefaultMaxFramePixels = 8192L * 8192;

    /// <summary>
    /// Default for <see cref="FfmpegFrameSamplerOptions.MaxDecoderMemoryBytes"/>: 4 GiB, about three times the 1.4 GiB
    /// measured for an 8192 × 8192 h264 video decoded on 16 threads.
    /// </summary>
    public const long DefaultMaxDecoderMemoryBytes = 4L << 30;

    private readonly FfmpegFrameSamplerOptions _options;

    /// <summary>Creates a sampler.</summary>
    /// <param name="options">Program paths and limits; defaults when null.</param>
    public FfmpegFrameSampler(FfmpegFrameSamplerOptions? options = null)
    {
        _options = options ?? new FfmpegFrameSamplerOptions();
        if (_options.PerVideoTimeout <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(options), $"{nameof(FfmpegFrameSamplerOptions)}.{nameof(FfmpegFrameSamplerOptions.PerVideoTimeout)} must be positive.");
        }

        if (_options.MaxFramePixels is <= 0 or > int.MaxValue)
        {
            throw new ArgumentOutOfRangeException(nameof(options), $"{nameof(FfmpegFrameSamplerOptions)}.{nameof(FfmpegFrameSamplerOptions.MaxFramePixels)} must be between 1 and {int.MaxValue} (got {_options.MaxFramePixels}).");
        }

        if (_options.MaxDecoderMemoryBytes < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(options), $"{nameof(FfmpegFrameSamplerOptions)}.{nameof(FfmpegFrameSamplerOptions.MaxDecoderMemoryBytes)} must be 0 (no limit) or positive (got {_options.MaxDecoderMemoryBytes}).");
        }
    }

    /// <summary>Extra ffmpeg input options placed before every <c>-i</c> (tests use <c>-re</c> to make decoding slow).</summary>
    internal IReadOnlyList<string> ExtraInputArguments { get; init; } = [];

    /// <inheritdoc />
    public Task<FrameSample> SampleAsync(string path, SamplingSettings settings, CancellationToken cancellationToken) =>
        SampleAsync(path, settings, DecodeStrategy.Auto, cancellationToken);

    /// <summary>As <see cref="SampleAsync(string, SamplingSettings, CancellationToken)"/>, with the frame-picking strategy forced.</summary>
    internal async Task<FrameSample> SampleAsync(string path, SamplingSettings settings, DecodeStrategy strategy, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(settings.Frames);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(settings.ImageSize);
        cancellationToken.ThrowIfCancellationRequested();

        var clock = Stopwatch.StartNew();
        var state = new SampleState(path);
        FileInfo file;
        try
        {
            file = new FileInfo(path);
            if (!file.Exists)
            {
                return FrameSample.Failed(path, ErrorCodes.NotFound, $"No such file: {path}");
            }

            if (file.Length == 0)
            {
                return FrameSample.Failed(path, ErrorCodes.EmptyFile, $"The file is empty (0 bytes): {path}");
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            return FrameSample.Failed(path, ErrorCodes.NotFound, $"Cannot read {path}: {e.Message}");
        }

        using var timeout = new CancellationTokenSource(_options.PerVideoTimeout);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
        try
        {
            return await SampleCoreAsync(file.FullName, settings, strategy, state, clock, linked.Token);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested && timeout.IsCancellationRequested)
        {
            var seconds = _options.PerVideoTimeout.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture);
            return FrameSample.Failed(path, ErrorCodes.Timeout, $"{state.Stage} took longer than the per-video limit of {seconds} s; the process was killed.", state.Probe, clock.Elapsed.TotalSeconds);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (Win32Exception e)
        {
            var fix = state.Program == _options.PrlimitPath
                ? $"prlimit (util-linux) bounds ffmpeg's memory: install util-linux, or set {nameof(FfmpegFrameSamplerOptions.MaxDecoderMemoryBytes)} to 0 to run ffmpeg unbounded."
                : "Install ffmpeg (it provides ffprobe too) or give its full path.";
            return FrameSample.Failed(path, ErrorCodes.DecoderMissing, $"Could not start {state.Program}: {e.Message}. {fix}", state.Probe, clock.Elapsed.TotalSeconds);
        }
        catch (Exception e)
        {
            return FrameSample.Failed(path, ErrorCodes.Internal, $"{e.GetType().Name}: {e.Message}", state.Probe, clock.Elapsed.TotalSeconds);
        }
    }

    private async Task<FrameSample> SampleCoreAsync(string fullPath, SamplingSettings settings, DecodeStrategy strategy, SampleState state, Stopwatch clock, CancellationToken ct)
    {
        var input = "file:" + fullPath;
        var (video, failure) = await ProbeAsync(fullPath, input, state, clock, ct);
        if (video is null)
        {
            return failure!;
        }

        var (frameCount, countSource) = await FrameCountAsync(input, video.Probe, video.Fps, video.Warnings, state, ct);
        video = video with { Facts = video.Facts with { FrameCount = frameCount, FrameCountSource = countSource } };
        state.Probe = video.Facts;

        var indices = FrameSchedule.Compute(frameCount ?? 0, video.Fps, settings.Frames, settings.FramesPerSecond);
        if (indices.Length == 0)
        {
            return FrameSample.Failed(state.Source, ErrorCodes.NoFrames, "The video stream has no frames.", video.Facts, clock.Elapsed.TotalSeconds);
        }

        var distinct = Distinct(indices);
        var plan = ResizePlan.For(video.Probe.Width, video.Probe.Height, video.Probe.SampleAspectRatio, video.Probe.Rotation, settings.ImageSize);
        strategy = ChooseStrategy(strategy, video, distinct.Length, frameCount);
        return await DecodeAsync(input, video, indices, distinct, plan, strategy, state, clock, ct);
    }

    /// <summary>Runs ffprobe and checks what it found; the video's facts, or the failure that ends the call.</summary>
    private async Task<(ProbedVideo? Video, FrameSample? Failure)> ProbeAsync(string fullPath, string input, SampleState state, Stopwatch clock, CancellationToken ct)
    {
        var source = state.Source;
        state.Stage = "probing";
        var probeRun = await RunAsync(
            _options.FfprobePath,
            ["-v", "error", .. InputGuard.InputOptions(_options.MaxFramePixels), "-print_format", "json", "-show_streams", "-show_format", input],
            Memory<byte>.Empty,
            null,
            state,
            ct);
        if (probeRun.ExitCode != 0)
        {
            return (null, ProbeFailure(fullPath, source, probeRun.StderrTail, clock));
        }

        ProbeResult probe;
        try
        {
            probe = ProbeResult.Parse(probeRun.StdoutText);
        }
        catch (JsonException e)
        {
            return (null, FrameSample.Failed(source, ErrorCodes.Corrupt, $"ffprobe gave unreadable output: {e.Message}", null, clock.Elapsed.TotalSeconds));
        }

        return CheckProbe(probe, probeRun.StderrTail, state, clock);
    }

    /// <summary>Why ffprobe failed: a refused demuxer, a limit, or a file that is corrupt or no video at all.</summary>
    private FrameSample ProbeFailure(string fullPath, string source, string stderr, Stopwatch clock)
    {
        if (InputGuard.RefusedFormat(stderr) is { } format)
        {
            return FrameSample.Failed(source, ErrorCodes.NotAVideo, RefusedFormatMessage(format), null, clock.Elapsed.TotalSeconds);
        }

        if (LimitFailure("ffprobe", stderr, 0, 0) is { } limited)
        {
            return FrameSample.Failed(source, limited.Code, limited.Message, null, clock.Elapsed.TotalSeconds);
        }

        var message = $"ffprobe could not read the file: {ErrorLines(stderr)}";
        var code = ContainerSniffer.LooksLikeVideoContainer(ContainerSniffer.ReadHead(fullPath)) ? ErrorCodes.Corrupt : ErrorCodes.NotAVideo;
        return FrameSample.Failed(source, code, message, null, clock.Elapsed.TotalSeconds);
    }

    /// <summary>The probed facts, or a failure when there is no decodable video stream of an allowed size.</summary>
    private (ProbedVideo? Video, FrameSample? Failure) CheckProbe(ProbeResult probe, string stderr, SampleState state, Stopwatch clock)
    {
        var source = state.Source;
        if (probe.VideoStreamIndex is not { } streamIndex)
        {
            var what = probe.StreamCount == 0 ? "no streams" : $"{probe.StreamCount} stream(s), none of them video";
            return (null, FrameSample.Failed(source, ErrorCodes.NotAVideo, $"No video stream: the file has {what}.", new VideoProbe { DurationSeconds = probe.DurationSeconds }, clock.Elapsed.TotalSeconds));
        }

        var fps = probe.AverageFrameRate ?? probe.RealFrameRate;
        var facts = new VideoProbe
        {
            DurationSeconds = probe.DurationSeconds,
            FramesPerSecond = fps,
            Width = probe.Width,
            Height = probe.Height,
            Rotation = probe.Rotation,
            Codec = probe.Codec,
        };
        state.Probe = facts;

        // A frame over the limit is refused before anything decodes it: by the size the stream states, or by the size
        // ffprobe's decoder met and refused (-max_pixels) when the container states a smaller one.
        if (TooLarge(probe.Width, probe.Height, stderr) is { } tooLarge)
        {
            return (null, FrameSample.Failed(source, ErrorCodes.FrameTooLarge, tooLarge, facts, clock.Elapsed.TotalSeconds));
        }

        if (probe.Codec is null)
        {
            return (null, FrameSample.Failed(source, ErrorCodes.UnsupportedCodec, "ffprobe does not know the video codec.", facts, clock.Elapsed.TotalSeconds));
        }

        if (fps is null)
        {
            return (null, FrameSample.Failed(source, ErrorCodes.Corrupt, "The video stream has no frame rate.", facts, clock.Elapsed.TotalSeconds));
        }

        var warnings = new List<string>();
        if (probe.AverageFrameRate is null)
        {
            warnings.Add("avg_frame_rate missing; used r_frame_rate.");
        }

        return (new ProbedVideo(probe, streamIndex, fps.Value, facts, warnings), null);
    }

    /// <summary>
    /// Seek for long constant-frame-rate videos, select otherwise (see the class remarks); a forced seek on a
    /// variable-frame-rate video falls back to select with a warning.
    /// </summary>
    private DecodeStrategy ChooseStrategy(DecodeStrategy strategy, ProbedVideo video, int distinctFrames, long? frameCount)
    {
        var probe = video.Probe;
        var constantRate = probe.AverageFrameRate is { } avg && probe.RealFrameRate is { } real && Math.Abs(avg - real) <= 1e-3 * real;
        if (strategy == DecodeStrategy.Auto)
        {
            var seekFrom = _options.SeekMinDurationSeconds * Math.Max(1.0, distinctFrames / 12.0);
            return constantRate && (probe.DurationSeconds ?? frameCount / video.Fps) >= seekFrom
                ? DecodeStrategy.Seek
                : DecodeStrategy.Select;
        }

        if (strategy == DecodeStrategy.Seek && !constantRate)
        {
            video.Warnings.Add("Seek strategy asked for a variable-frame-rate video; used select.");
            return DecodeStrategy.Select;
        }

        return strategy;
    }

    /// <summary>Decodes the distinct chosen frames in one ffmpeg process and normalises them into the sample.</summary>
    private async Task<FrameSample> DecodeAsync(string input, ProbedVideo video, long[] indices, long[] distinct, ResizePlan plan, DecodeStrategy strategy, SampleState state, Stopwatch clock, CancellationToken ct)
    {
        var frameBytes = plan.Size * plan.Size * 3;
        var expected = checked(distinct.Length * frameBytes);
        var arguments = strategy == DecodeStrategy.Seek
            ? SeekArguments(input, video.StreamIndex, distinct, video.Fps, plan)
            : SelectArguments(input, video.StreamIndex, distinct, plan);
        state.Stage = "decoding";
        var buffer = ArrayPool<byte>.Shared.Rent(expected);
        try
        {
            var run = await RunAsync(_options.FfmpegPath, arguments, buffer.AsMemory(0, expected), IsShowInfoLine, state, ct);
            var delivered = run.StdoutBytes / frameBytes;
            if (delivered == 0)
            {
                return DecodeFailure(run, video, state.Source, clock);
            }

            AddDecodeWarnings(run, frameBytes, delivered, distinct, video.Warnings);
            var times = strategy == DecodeStrategy.Select ? ShowInfoTimes(run.TakenLines) : [];
            if (times.Count < delivered)
            {
                times = [.. distinct[..delivered].Select(k => k / video.Fps)];
            }

            var (frames, frameIndices, timestamps) = Normalize(buffer, plan.Size, indices, distinct, delivered, times);
            return new FrameSample
            {
                Source = state.Source,
                Frames = frames,
                FrameIndices = frameIndices,
                TimestampsSeconds = timestamps,
                Probe = video.Facts,
                Warnings = video.Warnings,
                DecodeSeconds = clock.Elapsed.TotalSeconds,
            };
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>The failure when ffmpeg delivered no frame: a limit it hit, a missing decoder, or a corrupt stream.</summary>
    private FrameSample DecodeFailure(ChildResult run, ProbedVideo video, string source, Stopwatch clock)
    {
        if (LimitFailure("ffmpeg", run.StderrTail, video.Probe.Width, video.Probe.Height) is { } limited)
        {
            return FrameSample.Failed(source, limited.Code, limited.Message, video.Facts, clock.Elapsed.TotalSeconds);
        }

        var (code, what) = ClassifyDecodeFailure(run);
        return FrameSample.Failed(source, code, $"{what} {ErrorLines(run.StderrTail)}".TrimEnd(), video.Facts, clock.Elapsed.TotalSeconds);
    }

    /// <summary>Warnings for a partial frame, surplus output, missing frames, or a failed exit after every frame came.</summary>
    private static void AddDecodeWarnings(ChildResult run, int frameBytes, int delivered, long[] distinct, List<string> warnings)
    {
        if (run.StdoutBytes % frameBytes != 0)
        {
            warnings.Add($"ffmpeg wrote a partial frame ({run.StdoutBytes % frameBytes} bytes); it was dropped.");
        }

        if (run.StdoutOverflow > 0)
        {
            warnings.Add($"ffmpeg wrote {run.StdoutOverflow} bytes more than the {distinct.Length} frames asked for; they were dropped.");
        }

        if (delivered < distinct.Length)
        {
            warnings.Add(FormattableString.Invariant(
                $"Only {delivered} of {distinct.Length} chosen frames could be decoded (frames {string.Join(',', distinct[delivered..])} missing); repeated the last decoded frame, {distinct[delivered - 1]}. {ErrorLines(run.StderrTail)}").TrimEnd());
        }
        else if (run.ExitCode != 0)
        {
            warnings.Add($"ffmpeg exited with status {run.ExitCode} after delivering every frame: {ErrorLines(run.StderrTail)}");
        }
    }

    /// <summary>
    /// Normalises the delivered RGB frames into <c>[T, 3, S, S]</c>: a repeated index (short videos) or a frame that
    /// never came copies the earlier plane.
    /// </summary>
    private static (float[] Frames, long[] FrameIndices, double[] Timestamps) Normalize(byte[] rgb, int imageSize, long[] indices, long[] distinct, int delivered, List<double> times)
    {
        var frameBytes = imageSize * imageSize * 3;
        var floatsPerFrame = 3 * imageSize * imageSize;
        var frames = new float[checked(indices.Length * floatsPerFrame)];
        var frameIndices = new long[indices.Length];
        var timestamps = new double[indices.Length];
        var slot = -1;
        var lastSlot = -1;
        for (var t = 0; t < indices.Length; t++)
        {
            if (slot < distinct.Length - 1 && distinct[slot + 1] == indices[t])
            {
                slot++;
            }

            var used = Math.Min(slot, delivered - 1);
            var target = frames.AsSpan(t * floatsPerFrame, floatsPerFrame);
            if (t > 0 && used == lastSlot)
            {
                frames.AsSpan((t - 1) * floatsPerFrame, floatsPerFrame).CopyTo(target);
            }
            else
            {
                ClipNormalizer.NormalizeFrame(rgb.AsSpan(used * frameBytes, frameBytes), target);
            }

            lastSlot = used;
            frameIndices[t] = distinct[used];
            timestamps[t] = times[used];
        }

        return (frames, frameIndices, timestamps);
    }

    private async Task<(long? Count, string? Source)> FrameCountAsync(string input, ProbeResult probe, double fps, List<string> warnings, SampleState state, CancellationToken ct)
    {
        var fromTimestamps = probe.DurationSeconds is { } duration ? (long?)Math.Round(duration * fps, MidpointRounding.ToEven) : null;
        if (probe.ContainerFrameCount is { } stated)
        {
            if (fromTimestamps is not { } estimate || Math.Abs(stated - estimate) <= Math.Max(2, 0.02 * estimate))
            {
                return (stated, "container");
            }

            warnings.Add(FormattableString.Invariant($"The container says {stated} frames but duration × fps gives {estimate}; counted the packets instead."));
        }

        state.Stage = "counting frames";
        var run = await RunAsync(
            _options.FfprobePath,
            ["-v", "error", .. InputGuard.InputOptions(_options.MaxFramePixels),
             "-select_streams", probe.VideoStreamIndex!.Value.ToString(CultureInfo.InvariantCulture), "-count_packets",
             "-show_entries", "stream=nb_read_packets", "-print_format", "json", input],
            Memory<byte>.Empty,
            null,
            state,
            ct);
        if (run.ExitCode == 0 && TryReadPacketCount(run.StdoutText) is > 0 and var counted)
        {
            return (counted, "counted");
        }

        if (fromTimestamps is > 0)
        {
            warnings.Add("Could not count the frames; the frame count comes from duration × fps.");
            return (fromTimestamps, "timestamps");
        }

        return (null, null);
    }

    private static long? TryReadPacketCount(string json)
    {
        try
        {
            using var document = JsonDocument.Parse(json);
            if (document.RootElement.TryGetProperty("streams", out var streams) && streams.ValueKind == JsonValueKind.Array)
            {
                foreach (var stream in streams.EnumerateArray())
                {
                    if (stream.TryGetProperty("nb_read_packets", out var value) && value.ValueKind == JsonValueKind.String
                        && long.TryParse(value.GetString(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var count))
                    {
                        return count;
                    }
                }
            }
        }
        catch (JsonException)
        {
        }

        return null;
    }

    /// <summary>Runs ffprobe or ffmpeg under the memory limit, recording which program is being started.</summary>
    /// <exception cref="Win32Exception">The program, or prlimit, could not be started.</exception>
    private async Task<ChildResult> RunAsync(string program, IReadOnlyList<string> arguments, Memory<byte> stdout, Func<string, bool>? takeLine, SampleState state, CancellationToken ct)
    {
        var (fileName, wrapped) = MemoryBound.Wrap(program, arguments, _options.MaxDecoderMemoryBytes, _options.PrlimitPath);
        state.Program = fileName;
        var run = await ChildProcess.RunAsync(fileName, wrapped, stdout, takeLine, ct);
        state.Program = program;
        if (MemoryBound.ExecFailure(fileName, program, run) is { } reason)
        {
            throw new Win32Exception(reason);
        }

        return run;
    }

    private List<string> CommonHead() =>
    [
        "-nostdin", "-hide_banner", "-nostats", "-loglevel", "level+info",
        .. _options.DecoderThreads > 0 ? ["-threads", _options.DecoderThreads.ToString(CultureInfo.InvariantCulture)] : Array.Empty<string>(),
    ];

    /// <summary>One input, every frame decoded, the chosen frame numbers kept.</summary>
    internal List<string> SelectArguments(string input, int streamIndex, long[] distinct, ResizePlan plan)
    {
        var select = new StringBuilder("select='");
        for (var i = 0; i < distinct.Length; i++)
        {
            select.Append(i == 0 ? "" : "+").Append(CultureInfo.InvariantCulture, $"eq(n\\,{distinct[i]})");
        }

        select.Append('\'');
        var arguments = CommonHead();
        arguments.AddRange(ExtraInputArguments);
        arguments.AddRange(InputGuard.InputOptions(_options.MaxFramePixels));
        arguments.AddRange(["-i", input, "-map", FormattableString.Invariant($"0:{streamIndex}"), "-an", "-sn", "-dn",
            "-vf", $"{select},showinfo,format=rgb24,{plan.ToFilter()}",
            "-fps_mode", "passthrough", "-pix_fmt", "rgb24", "-f", "rawvideo", .. InputGuard.OutputOptions, "pipe:1"]);
        return arguments;
    }

    /// <summary>One input per chosen frame, each seeking to half a frame before it and reading two frames' worth.</summary>
    internal List<string> SeekArguments(string input, int streamIndex, long[] distinct, double fps, ResizePlan plan)
    {
        var arguments = CommonHead();
        var graph = new StringBuilder();
        var window = (2.0 / fps).ToString("0.######", CultureInfo.InvariantCulture);
        for (var i = 0; i < distinct.Length; i++)
        {
            var start = Math.Max(0, (distinct[i] - 0.5) / fps);
            arguments.AddRange(ExtraInputArguments);
            arguments.AddRange(InputGuard.InputOptions(_options.MaxFramePixels));
            arguments.AddRange(["-ss", start.ToString("0.######", CultureInfo.InvariantCulture), "-t", window, "-i", input]);
            graph.Append(CultureInfo.InvariantCulture, $"[{i}:{streamIndex}]trim=end_frame=1,format=rgb24,{plan.ToFilter()}[v{i}];");
        }

        for (var i = 0; i < distinct.Length; i++)
        {
            graph.Append(CultureInfo.InvariantCulture, $"[v{i}]");
        }

        graph.Append(CultureInfo.InvariantCulture, $"concat=n={distinct.Length}:v=1:a=0[out]");
        arguments.AddRange(["-filter_complex", graph.ToString(), "-map", "[out]",
            "-fps_mode", "passthrough", "-pix_fmt", "rgb24", "-f", "rawvideo", .. InputGuard.OutputOptions, "pipe:1"]);
        return arguments;
    }

    private static long[] Distinct(long[] sorted)
    {
        var result = new List<long>(sorted.Length);
        foreach (var index in sorted)
        {
            if (result.Count == 0 || result[^1] != index)
            {
                result.Add(index);
            }
        }

        return [.. result];
    }

    private static bool IsShowInfoLine(string line) => line.Contains("Parsed_showinfo", StringComparison.Ordinal);

    /// <summary>The <c>pts_time:</c> of each frame line that <c>showinfo</c> printed, in order.</summary>
    internal static List<double> ShowInfoTimes(IReadOnlyList<string> lines)
    {
        var times = new List<double>();
        foreach (var line in lines)
        {
            var at = line.IndexOf(" pts_time:", StringComparison.Ordinal);
            if (at < 0)
            {
                continue;
            }

            var rest = line.AsSpan(at + " pts_time:".Length).TrimStart();
            var end = rest.IndexOf(' ');
            if (end >= 0)
            {
                rest = rest[..end];
            }

            if (double.TryParse(rest, NumberStyles.Float, CultureInfo.InvariantCulture, out var time))
            {
                times.Add(time);
            }
        }

        return times;
    }

    private static string RefusedFormatMessage(string format) =>
        $"The file is not a video container but '{format}' (playlists, concatenation scripts, manifests and image " +
        $"sequences name other files, which ffmpeg is not allowed to open). Only {InputGuard.AllowedFormatsForPeople} " +
        "files are read: list the video files themselves, or remux the stream into one (ffmpeg -i list.m3u8 -c copy video.mp4).";

    /// <summary>
    /// The frame-size message when the stated size (<paramref name="width"/> × <paramref name="height"/>) or the largest
    /// size a decoder refused in <paramref name="stderr"/> is over the limit; null when neither is.
    /// </summary>
    private string? TooLarge(long width, long height, string stderr)
    {
        var refused = InputGuard.LargestRefusedPicture(stderr);
        var (w, h) = refused is { } r && r.Width * r.Height > width * height ? r : (width, height);
        if (w * h <= _options.MaxFramePixels)
        {
            return null;
        }

        var limit = _options.MaxFramePixels;
        var stated = (w, h) != (width, height) && width * height > 0
            ? FormattableString.Invariant($" (the container states {width}x{height})")
            : "";
        return FormattableString.Invariant(
            $"The video's frames are {w}x{h}{stated}: {w * h / 1e6:0.#} megapixels, more than the limit of {limit / 1e6:0.#} megapixels ") +
            $"({nameof(FfmpegFrameSamplerOptions.MaxFramePixels)}), so it was not decoded: one such frame takes {w * h * 3 / (1 << 20)} MiB as RGB. " +
            "Re-encode it at a smaller size (e.g. ffmpeg -i in.mp4 -vf scale=-2:2160 out.mp4) or leave it out of the source.";
    }

    /// <summary>A <c>frame_too_large</c> or <c>memory_limit_exceeded</c> failure read from a failed run's log; null when it is neither.</summary>
    private (string Code, string Message)? LimitFailure(string program, string stderr, long width, long height)
    {
        if (TooLarge(width, height, stderr) is { } tooLarge)
        {
            return (ErrorCodes.FrameTooLarge, tooLarge);
        }

        if (!InputGuard.RanOutOfMemory(stderr))
        {
            return null;
        }

        var limit = _options.MaxDecoderMemoryBytes;
        var message = limit > 0
            ? $"{program} ran out of the {limit >> 20} MiB of memory it may use for one video ({nameof(FfmpegFrameSamplerOptions.MaxDecoderMemoryBytes)}) and stopped: " +
              "the file decodes to more than that (a decompression bomb, or a very large or complex video). Re-encode it smaller or raise the limit."
            : $"{program} ran out of memory: the file decodes to more than the machine can give it. Re-encode it smaller.";
        return (ErrorCodes.MemoryLimitExceeded, $"{message} {ErrorLines(stderr)}".TrimEnd());
    }

    private static (string Code, string What) ClassifyDecodeFailure(ChildResult run)
    {
        var text = run.StderrTail;
        if (text.Contains("Decoder (codec", StringComparison.Ordinal) || text.Contains("Unknown decoder", StringComparison.Ordinal)
            || text.Contains("Unsupported codec", StringComparison.OrdinalIgnoreCase) || text.Contains("is not implemented", StringComparison.Ordinal))
        {
            return (ErrorCodes.UnsupportedCodec, "ffmpeg has no decoder for this video.");
        }

        if (run.ExitCode != 0 || text.Contains("[error]", StringComparison.Ordinal) || text.Contains("[fatal]", StringComparison.Ordinal))
        {
            return (ErrorCodes.Corrupt, $"ffmpeg could not decode the video (exit {run.ExitCode}).");
        }

        return (ErrorCodes.NoFrames, "ffmpeg decoded no frames.");
    }

    /// <summary>The error and fatal lines of an ffmpeg log (level-prefixed or not), else its last lines; at most 1000 chars.</summary>
    internal static string ErrorLines(string stderr)
    {
        var lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var errors = lines.Where(l => l.Contains("[error]", StringComparison.Ordinal) || l.Contains("[fatal]", StringComparison.Ordinal)).ToList();
        var chosen = errors.Count > 0 ? errors.TakeLast(5) : lines.TakeLast(3);
        var text = string.Join(" | ", chosen);
        return text.Length > 1000 ? text[..1000] : text;
    }

    /// <summary>What ffprobe found about a video that can be decoded; <paramref name="Warnings"/> collects the call's warnings.</summary>
    private sealed record ProbedVideo(ProbeResult Probe, int StreamIndex, double Fps, VideoProbe Facts, List<string> Warnings);

    /// <summary>Progress of one call, read when a timeout or an unexpected error cuts it short.</summary>
    private sealed class SampleState(string source)
    {
        public string Source { get; } = source;

        public string Stage { get; set; } = "starting";

        public string Program { get; set; } = "ffprobe";

        public VideoProbe? Probe { get; set; }
    }
}

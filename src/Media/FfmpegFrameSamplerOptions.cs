namespace TempMe.Pipeline.Media;

/// <summary>Settings of <see cref="FfmpegFrameSampler"/>.</summary>
public sealed record FfmpegFrameSamplerOptions
{
    /// <summary>The <c>ffmpeg</c> program: a name looked up on PATH or a full path. Default <c>ffmpeg</c>.</summary>
    public string FfmpegPath { get; init; } = "ffmpeg";

    /// <summary>The <c>ffprobe</c> program: a name looked up on PATH or a full path. Default <c>ffprobe</c>.</summary>
    public string FfprobePath { get; init; } = "ffprobe";

    /// <summary>Limit for probing and decoding one video, after which the child processes are killed. Default 120 s.</summary>
    public TimeSpan PerVideoTimeout { get; init; } = TimeSpan.FromSeconds(120);

    /// <summary>
    /// Constant-frame-rate videos at least this long (for 12 frames; scaled by frames / 12 above that) are decoded by
    /// seeking to each chosen frame (one input per frame in one ffmpeg process) instead of decoding every frame and
    /// selecting. Default 60 s, from the measurements recorded on <see cref="FfmpegFrameSampler"/>.
    /// </summary>
    public double SeekMinDurationSeconds { get; init; } = FfmpegFrameSampler.DefaultSeekMinDurationSeconds;

    /// <summary>Threads ffmpeg may use per video (<c>-threads</c>); 0 lets ffmpeg choose. Default 0.</summary>
    public int DecoderThreads { get; init; }

    /// <summary>
    /// Largest frame, in pixels, that is decoded; bigger ones fail as <c>frame_too_large</c>, before decoding when
    /// ffprobe sees the size and otherwise when the decoder meets it (ffmpeg's <c>-max_pixels</c>). At most
    /// <see cref="int.MaxValue"/>. Default <see cref="FfmpegFrameSampler.DefaultMaxFramePixels"/> (8192 × 8192).
    /// </summary>
    public long MaxFramePixels { get; init; } = FfmpegFrameSampler.DefaultMaxFramePixels;

    /// <summary>
    /// Data-size limit (RLIMIT_DATA) of each ffprobe and ffmpeg process, set with <see cref="PrlimitPath"/>; a video
    /// that needs more fails as <c>memory_limit_exceeded</c>. 0 turns the limit off (and prlimit is not needed).
    /// Default <see cref="FfmpegFrameSampler.DefaultMaxDecoderMemoryBytes"/> (4 GiB).
    /// </summary>
    public long MaxDecoderMemoryBytes { get; init; } = FfmpegFrameSampler.DefaultMaxDecoderMemoryBytes;

    /// <summary>The util-linux <c>prlimit</c> program that applies <see cref="MaxDecoderMemoryBytes"/>. Default <c>prlimit</c>.</summary>
    public string PrlimitPath { get; init; } = "prlimit";
}

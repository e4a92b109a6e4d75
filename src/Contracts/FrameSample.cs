namespace TempMe.Pipeline.Contracts;

/// <summary>What a frame sampler learned about a video, whether or not decoding succeeded.</summary>
public sealed record VideoProbe
{
    /// <summary>Duration in seconds, when known.</summary>
    public double? DurationSeconds { get; init; }

    /// <summary>The stream's average frame rate, when known.</summary>
    public double? FramesPerSecond { get; init; }

    /// <summary>Frame count used for sampling.</summary>
    public long? FrameCount { get; init; }

    /// <summary>Where <see cref="FrameCount"/> came from: <c>container</c>, <c>counted</c> or <c>timestamps</c>.</summary>
    public string? FrameCountSource { get; init; }

    /// <summary>Coded width before rotation.</summary>
    public int? Width { get; init; }

    /// <summary>Coded height before rotation.</summary>
    public int? Height { get; init; }

    /// <summary>Display rotation in degrees (0, 90, 180, 270).</summary>
    public int Rotation { get; init; }

    /// <summary>Codec name as ffprobe reports it.</summary>
    public string? Codec { get; init; }
}

/// <summary>
/// The outcome of sampling one video: either <see cref="Frames"/> holds <c>[T, 3, S, S]</c> CLIP-normalised
/// floats, or <see cref="ErrorCode"/> says why not. A bad video is data, not an exception.
/// </summary>
public sealed record FrameSample
{
    /// <summary>The video's path or address.</summary>
    public required string Source { get; init; }

    /// <summary>The normalised frames, <c>[T, 3, S, S]</c>; null when the video failed.</summary>
    public float[]? Frames { get; init; }

    /// <summary>Original frame numbers that were sampled.</summary>
    public IReadOnlyList<long> FrameIndices { get; init; } = [];

    /// <summary>Presentation times of the sampled frames, in seconds.</summary>
    public IReadOnlyList<double> TimestampsSeconds { get; init; } = [];

    /// <summary>Stream facts, as far as they could be read.</summary>
    public VideoProbe Probe { get; init; } = new();

    /// <summary>One of <see cref="ErrorCodes"/> when the video failed; otherwise null.</summary>
    public string? ErrorCode { get; init; }

    /// <summary>A human-readable explanation of the failure.</summary>
    public string? Message { get; init; }

    /// <summary>Non-fatal problems (partial corruption, frame count taken from timestamps).</summary>
    public IReadOnlyList<string> Warnings { get; init; } = [];

    /// <summary>Seconds spent probing and decoding.</summary>
    public double DecodeSeconds { get; init; }

    /// <summary>True when frames were produced.</summary>
    public bool Succeeded => ErrorCode is null && Frames is not null;

    /// <summary>Makes a failed sample.</summary>
    public static FrameSample Failed(string source, string errorCode, string message, VideoProbe? probe = null, double decodeSeconds = 0) =>
        new() { Source = source, ErrorCode = errorCode, Message = message, Probe = probe ?? new(), DecodeSeconds = decodeSeconds };
}

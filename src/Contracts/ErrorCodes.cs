namespace TempMe.Pipeline.Contracts;

/// <summary>
/// Stable error codes stored in ledger rows, <c>failures.jsonl</c> and API answers.
/// They are persisted: never rename or reuse one.
/// </summary>
public static class ErrorCodes
{
    #region Probe and decode (Media)

    /// <summary>The video file does not exist or is not readable.</summary>
    public const string NotFound = "not_found";

    /// <summary>The file has zero bytes.</summary>
    public const string EmptyFile = "empty_file";

    /// <summary>The file has no video stream (audio-only, text, random bytes).</summary>
    public const string NotAVideo = "not_a_video";

    /// <summary>ffmpeg could not decode the stream.</summary>
    public const string Corrupt = "corrupt";

    /// <summary>The codec is not supported by the installed ffmpeg.</summary>
    public const string UnsupportedCodec = "unsupported_codec";

    /// <summary>The stream yielded no decodable frame.</summary>
    public const string NoFrames = "no_frames";

    /// <summary>Probing or decoding took longer than the per-video limit.</summary>
    public const string Timeout = "timeout";

    /// <summary>ffmpeg or ffprobe is not installed or could not be started.</summary>
    public const string DecoderMissing = "decoder_missing";

    /// <summary>
    /// A frame of the video stream has more pixels than the per-video limit (a decompression bomb, or a video far
    /// larger than anything the encoder needs). Refused before decoding when the size is known.
    /// </summary>
    public const string FrameTooLarge = "frame_too_large";

    /// <summary>ffprobe or ffmpeg ran out of the memory it may use for one video (its address-space limit).</summary>
    public const string MemoryLimitExceeded = "memory_limit_exceeded";

    #endregion

    #region Encode

    /// <summary>The encoder threw while embedding the video.</summary>
    public const string EncodeFailed = "encode_failed";

    #endregion

    #region Storage

    /// <summary>Reading the source or writing the output failed after retries.</summary>
    public const string StorageFailed = "storage_failed";

    /// <summary>The source blob or file disappeared between listing and processing.</summary>
    public const string SourceMissing = "source_missing";

    /// <summary>
    /// The listed entry (a path in a list file, or a link) leads outside the silo's <c>--allowed-roots</c>; it was not
    /// opened. Not retryable: retrying would open it.
    /// </summary>
    public const string OutsideAllowedRoots = "outside_allowed_roots";

    #endregion

    #region Coordination

    /// <summary>The worker holding the video lost its lease too often (the video kills workers).</summary>
    public const string LeaseExpired = "lease_expired";

    /// <summary>An unexpected internal error; the message carries the details.</summary>
    public const string Internal = "internal";

    #endregion

    /// <summary>
    /// Whether a failure with this code may succeed when tried again with the same input.
    /// Deterministic failures (a corrupt file stays corrupt) are not retryable.
    /// </summary>
    public static bool IsRetryable(string code) => code switch
    {
        Timeout or StorageFailed or EncodeFailed or LeaseExpired or Internal or DecoderMissing => true,
        _ => false,
    };
}

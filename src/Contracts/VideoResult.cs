namespace TempMe.Pipeline.Contracts;

/// <summary>An embedding computed once for a given content hash and model key, reusable for every copy of the file.</summary>
/// <param name="Vector">The unit-length embedding.</param>
/// <param name="DurationSeconds">Video duration, when known.</param>
/// <param name="TimestampsSeconds">Times of the sampled frames.</param>
public sealed record CachedEmbedding(float[] Vector, double? DurationSeconds, IReadOnlyList<double> TimestampsSeconds);

/// <summary>The outcome of one attempt at one video.</summary>
public sealed record VideoResult
{
    /// <summary>Ledger row id.</summary>
    public required long VideoId { get; init; }

    /// <summary>The video's path or address.</summary>
    public required string Source { get; init; }

    /// <summary>SHA-256 of the file's bytes (lower-case hex), when the file could be read.</summary>
    public string? ContentSha256 { get; init; }

    /// <summary>The embedding and its sampling facts when the video succeeded.</summary>
    public CachedEmbedding? Embedding { get; init; }

    /// <summary>
    /// The store name of the video's thumbnail (<c>thumbnails/ab/SHA.jpg</c>) when one was written or found for its
    /// content; null when none (a thumbnail that could not be made never fails the video).
    /// </summary>
    public string? Thumbnail { get; init; }

    /// <summary>One of <see cref="ErrorCodes"/> when the attempt failed.</summary>
    public string? ErrorCode { get; init; }

    /// <summary>Human-readable failure message.</summary>
    public string? Message { get; init; }

    /// <summary>Seconds spent downloading, probing and decoding.</summary>
    public double DecodeSeconds { get; init; }

    /// <summary>This video's share of the batched encode time.</summary>
    public double EncodeSeconds { get; init; }

    /// <summary>True when the embedding came from the content-hash cache instead of being computed.</summary>
    public bool Reused { get; init; }

    /// <summary>False when this claim did not try the video (already done, or failed for good); such a result does not count as an attempt.</summary>
    public bool Attempted { get; init; } = true;

    /// <summary>True when the attempt produced an embedding.</summary>
    public bool Succeeded => Embedding is not null;
}

namespace TempMe.Pipeline.Contracts;

/// <summary>Where a video stands in the ledger. Stored as lower-case text: never rename a member.</summary>
public enum VideoState
{
    /// <summary>Not yet processed, or to be tried again.</summary>
    Pending,

    /// <summary>Embedded; the embedding is in the content-hash cache.</summary>
    Done,

    /// <summary>Failed for good (a deterministic error, or retries exhausted).</summary>
    Failed,
}

/// <summary>A video inside a claimed shard.</summary>
/// <param name="VideoId">Ledger row id.</param>
/// <param name="Source">Path or address of the video.</param>
/// <param name="Size">Length in bytes at listing time.</param>
/// <param name="Attempts">Attempts already made on earlier claims (not counting this one).</param>
/// <param name="State">The video's state when the shard was claimed.</param>
/// <param name="ContentSha256">The content hash, when an earlier attempt computed it.</param>
/// <param name="ErrorCode">The last error code of a failed video.</param>
/// <param name="ErrorMessage">The last error message of a failed video.</param>
public sealed record ShardVideo(
    long VideoId,
    string Source,
    long Size,
    int Attempts,
    VideoState State = VideoState.Pending,
    string? ContentSha256 = null,
    string? ErrorCode = null,
    string? ErrorMessage = null);

/// <summary>
/// A shard held by one worker until <see cref="ExpiresUtc"/>. The holder renews the lease with heartbeats;
/// a lease that runs out lets another worker claim the shard and redo it, so every write done under a lease
/// must be idempotent (deterministic part names, results keyed by video).
/// </summary>
/// <param name="JobId">The job the shard belongs to.</param>
/// <param name="ShardId">Ledger id of the shard.</param>
/// <param name="PartNumber">Number of the part file this shard writes (<c>part-NNNNN</c>).</param>
/// <param name="Videos">The shard's videos in output row order.</param>
/// <param name="LeaseToken">Changes on every claim, so a worker whose lease was taken over cannot complete the shard.</param>
/// <param name="ExpiresUtc">When the lease runs out unless renewed.</param>
public sealed record ShardLease(string JobId, long ShardId, int PartNumber, IReadOnlyList<ShardVideo> Videos, Guid LeaseToken, DateTimeOffset ExpiresUtc);

namespace TempMe.Pipeline.Contracts;

/// <summary>
/// The coordination store seen by whoever processes shards: SQLite for <c>tempme index</c>, PostgreSQL for the
/// distributed workers. Claims are short transactions; nothing is locked while a shard is being worked on.
/// </summary>
public interface IShardLedger
{
    /// <summary>Claims the next shard that is queued or whose lease expired; null when none is available now.</summary>
    Task<ShardLease?> ClaimShardAsync(string workerId, TimeSpan lease, CancellationToken cancellationToken);

    /// <summary>Extends a held lease. Returns false when the lease was lost (expired and claimed by another worker, or the job was cancelled).</summary>
    Task<bool> RenewLeaseAsync(ShardLease shard, string workerId, TimeSpan lease, CancellationToken cancellationToken);

    /// <summary>Looks up an embedding already computed for this content under the job's model and sampling settings.</summary>
    Task<CachedEmbedding?> FindEmbeddingAsync(string jobId, string contentSha256, CancellationToken cancellationToken);

    /// <summary>
    /// Makes per-video results durable before the shard completes (successful embeddings go to the content-hash cache),
    /// so an interrupted shard never recomputes a finished video. Idempotent per video.
    /// </summary>
    Task RecordVideoResultsAsync(ShardLease shard, IReadOnlyList<VideoResult> results, CancellationToken cancellationToken);

    /// <summary>
    /// Records the shard's outcome after its part is durable, and releases the lease, in one transaction.
    /// Returns false (and changes nothing) when the lease token no longer holds the shard.
    /// </summary>
    Task<bool> CompleteShardAsync(ShardLease shard, ShardCompletion completion, CancellationToken cancellationToken);

    /// <summary>Hands an unfinished shard back so another claim can take it at once (graceful shutdown).</summary>
    Task ReleaseShardAsync(ShardLease shard, CancellationToken cancellationToken);
}

/// <summary>What a processed shard produced.</summary>
/// <param name="PartName">The part's base name (e.g. <c>embeddings/part-00003</c>), or null when no video of the shard succeeded.</param>
/// <param name="Results">Every video's result for this claim, in row order; settled videos carry their earlier result.</param>
/// <param name="MaxAttempts">Attempts after which a retryable failure becomes final.</param>
public sealed record ShardCompletion(string? PartName, IReadOnlyList<VideoResult> Results, int MaxAttempts);

using TempMe.Pipeline.Contracts;

namespace TempMe.Pipeline.Grains.Coordination;

/// <summary>
/// One frame-sampling job: a shard of a corpus job (key <see cref="ShardKey"/>: <c>JOB/SHARD</c>). Its videos, their
/// attempts and results, the current owner and the lease live in the shard's PostgreSQL rows; the grain is the one
/// door workers use to renew, record results, complete or hand back the shard. Every call is idempotent, so a worker
/// may repeat one whose answer it did not get (its coordinator silo died mid-call).
/// </summary>
[Alias("tempme.IShardGrain")]
public interface IShardGrain : IGrainWithStringKey
{
    /// <summary>Extends the lease; false when it was lost (requeued, taken over, or the job ended).</summary>
    [Alias("Renew")]
    Task<bool> RenewAsync(ShardLease shard, TimeSpan lease);

    /// <summary>Makes per-video results durable (embeddings into the content-hash cache) before the part is written.</summary>
    [Alias("RecordResults")]
    Task RecordResultsAsync(string modelKey, ShardLease shard, IReadOnlyList<VideoResult> results);

    /// <summary>Records the shard's outcome after its part is durable; false when the lease no longer holds.</summary>
    [Alias("Complete")]
    Task<bool> CompleteAsync(ShardLease shard, ShardCompletion completion);

    /// <summary>Hands the unfinished shard back to the queue.</summary>
    [Alias("Release")]
    Task ReleaseAsync(ShardLease shard);
}

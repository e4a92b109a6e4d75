using TempMe.Pipeline.Contracts;

namespace TempMe.Pipeline.Ledger.Postgres;

/// <summary>The PostgreSQL ledger seen through one job: what the shared shard pipeline runs against on a worker.</summary>
internal sealed class PostgresJobLedger(PostgresLedger ledger, string jobId, string modelKey) : IShardLedger
{
    /// <inheritdoc />
    public Task<ShardLease?> ClaimShardAsync(string workerId, TimeSpan lease, CancellationToken cancellationToken) =>
        ledger.ClaimShardAsync(jobId, workerId, silo: null, lease, cancellationToken);

    /// <inheritdoc />
    public Task<bool> RenewLeaseAsync(ShardLease shard, string workerId, TimeSpan lease, CancellationToken cancellationToken) =>
        ledger.RenewLeaseAsync(shard, lease, cancellationToken);

    /// <inheritdoc />
    public Task<CachedEmbedding?> FindEmbeddingAsync(string jobId, string contentSha256, CancellationToken cancellationToken) =>
        ledger.FindEmbeddingAsync(modelKey, contentSha256, cancellationToken);

    /// <inheritdoc />
    public Task RecordVideoResultsAsync(ShardLease shard, IReadOnlyList<VideoResult> results, CancellationToken cancellationToken) =>
        ledger.RecordVideoResultsAsync(modelKey, shard, results, cancellationToken);

    /// <inheritdoc />
    public Task<bool> CompleteShardAsync(ShardLease shard, ShardCompletion completion, CancellationToken cancellationToken) =>
        ledger.CompleteShardAsync(shard, completion, cancellationToken);

    /// <inheritdoc />
    public Task ReleaseShardAsync(ShardLease shard, CancellationToken cancellationToken) =>
        ledger.ReleaseShardAsync(shard, cancellationToken);
}

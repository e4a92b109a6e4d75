using Orleans.Concurrency;
using TempMe.Pipeline.Contracts;
using TempMe.Pipeline.Ledger.Postgres;

namespace TempMe.Pipeline.Grains.Coordination;

/// <summary>
/// <see cref="IShardGrain"/> over the shard's PostgreSQL rows. Reentrant: the holder's heartbeat renews the lease
/// while its results are being recorded, and both are short transactions guarded by the lease token.
/// </summary>
[GrainType("tempme.shard")]
[Reentrant]
internal sealed class ShardGrain(PostgresLedger ledger) : Grain, IShardGrain
{
    /// <inheritdoc />
    public Task<bool> RenewAsync(ShardLease shard, TimeSpan lease) =>
        ledger.ForJob(shard.JobId, modelKey: "").RenewLeaseAsync(shard, "", lease, CancellationToken.None);

    /// <inheritdoc />
    public Task RecordResultsAsync(string modelKey, ShardLease shard, IReadOnlyList<VideoResult> results) =>
        ledger.ForJob(shard.JobId, modelKey).RecordVideoResultsAsync(shard, results, CancellationToken.None);

    /// <inheritdoc />
    public async Task<bool> CompleteAsync(ShardLease shard, ShardCompletion completion)
    {
        var completed = await ledger.ForJob(shard.JobId, modelKey: "").CompleteShardAsync(shard, completion, CancellationToken.None);
        if (completed)
        {
            // The last shard moves the job to finalizing: wake its grain now rather than at its next tick.
            await GrainFactory.GetGrain<ICorpusJobGrain>(shard.JobId).KickAsync();
        }

        return completed;
    }

    /// <inheritdoc />
    public Task ReleaseAsync(ShardLease shard) =>
        ledger.ForJob(shard.JobId, modelKey: "").ReleaseShardAsync(shard, CancellationToken.None);
}

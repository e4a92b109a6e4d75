using TempMe.Pipeline.Contracts;
using TempMe.Pipeline.Grains.Coordination;

namespace TempMe.Pipeline.Worker.Gpu;

/// <summary>
/// The shard ledger the shared <c>ShardPipeline</c> runs against in a worker silo: claims go to the job's grain,
/// everything about a claimed shard to that shard's grain.
/// </summary>
internal sealed class GrainShardLedger(IGrainFactory grains, string silo, string jobId, string modelKey) : IShardLedger
{
    /// <inheritdoc />
    public Task<ShardLease?> ClaimShardAsync(string workerId, TimeSpan lease, CancellationToken cancellationToken) =>
        GrainCalls.RunAsync(() => grains.GetGrain<ICorpusJobGrain>(jobId).ClaimShardAsync(workerId, silo, lease), cancellationToken);

    /// <inheritdoc />
    public Task<bool> RenewLeaseAsync(ShardLease shard, string workerId, TimeSpan lease, CancellationToken cancellationToken) =>
        GrainCalls.RunAsync(() => Shard(shard).RenewAsync(shard, lease), cancellationToken);

    /// <inheritdoc />
    public Task<CachedEmbedding?> FindEmbeddingAsync(string jobId, string contentSha256, CancellationToken cancellationToken) =>
        GrainCalls.RunAsync(() => grains.GetGrain<ICorpusJobGrain>(jobId).FindEmbeddingAsync(modelKey, contentSha256), cancellationToken);

    /// <inheritdoc />
    public Task RecordVideoResultsAsync(ShardLease shard, IReadOnlyList<VideoResult> results, CancellationToken cancellationToken) =>
        GrainCalls.RunAsync(() => Shard(shard).RecordResultsAsync(modelKey, shard, results), cancellationToken);

    /// <inheritdoc />
    public Task<bool> CompleteShardAsync(ShardLease shard, ShardCompletion completion, CancellationToken cancellationToken) =>
        GrainCalls.RunAsync(() => Shard(shard).CompleteAsync(shard, completion), cancellationToken);

    /// <inheritdoc />
    public Task ReleaseShardAsync(ShardLease shard, CancellationToken cancellationToken) =>
        GrainCalls.RunAsync(() => Shard(shard).ReleaseAsync(shard), cancellationToken);

    private IShardGrain Shard(ShardLease shard) => grains.GetGrain<IShardGrain>(ShardKey.Of(shard.JobId, shard.ShardId));
}

using Orleans.Concurrency;
using TempMe.Pipeline.Ledger.Postgres;

namespace TempMe.Pipeline.Grains.Coordination;

/// <summary><see cref="IWorkQueueGrain"/>: one indexed query over the jobs and shards tables per ask.</summary>
[GrainType("tempme.work-queue")]
[Reentrant]
internal sealed class WorkQueueGrain(PostgresLedger ledger) : Grain, IWorkQueueGrain
{
    /// <inheritdoc />
    public Task<string?> FindClaimableJobAsync() => ledger.FindClaimableJobAsync(CancellationToken.None);
}

using Orleans.Concurrency;
using TempMe.Pipeline.Ledger.Postgres;

namespace TempMe.Pipeline.Grains.Coordination;

/// <summary>
/// <see cref="IWorkerGrain"/>: each report becomes the worker's row in the workers table (the dashboard lists every
/// worker in one query). Nothing is kept in the grain: a report lost with a dying silo is replaced by the next heartbeat.
/// </summary>
[GrainType("tempme.worker")]
[Reentrant]
internal sealed class WorkerGrain(PostgresLedger ledger) : Grain, IWorkerGrain
{
    /// <inheritdoc />
    public Task ReportAsync(WorkerReport report) => ledger.ReportWorkerAsync(report, CancellationToken.None);
}

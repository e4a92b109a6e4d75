using TempMe.Pipeline.Ledger.Postgres;

namespace TempMe.Pipeline.Grains.Coordination;

/// <summary>
/// A worker as the dashboard sees it (key: worker id): its heartbeat, current job and shard, and its time split
/// between download, decode, encode and upload, written to the workers table the dashboard reads in bulk.
/// </summary>
[Alias("tempme.IWorkerGrain")]
public interface IWorkerGrain : IGrainWithStringKey
{
    /// <summary>Records a heartbeat report of the worker.</summary>
    [Alias("Report")]
    Task ReportAsync(WorkerReport report);
}

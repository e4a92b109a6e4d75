using TempMe.Pipeline.Contracts;
using TempMe.Pipeline.Ledger.Postgres;

namespace TempMe.Pipeline.Worker.Gpu;

/// <summary>What a worker asks of the coordinators: which job has work, that job's facts, and its failures.</summary>
internal interface IJobCoordination
{
    /// <summary>The oldest running job with a claimable shard, or null.</summary>
    Task<string?> FindClaimableJobAsync(CancellationToken cancellationToken);

    /// <summary>The job as a worker needs it; null when unknown.</summary>
    Task<JobStatus?> GetJobForWorkAsync(string jobId, CancellationToken cancellationToken);

    /// <summary>Records the model this worker loaded for the job (first writer wins).</summary>
    Task SetJobModelAsync(string jobId, string fingerprint, int embeddingSize, string samplingKey, CancellationToken cancellationToken);

    /// <summary>Fails the job at once.</summary>
    Task FailJobAsync(string jobId, string message, CancellationToken cancellationToken);

    /// <summary>Counts one job-level failure in a row (backoff, then failure).</summary>
    Task<JobFailureOutcome?> RecordJobFailureAsync(string jobId, string expectedState, string message, JobRetryPolicy policy, CancellationToken cancellationToken);

    /// <summary>Sends this worker's heartbeat report.</summary>
    Task ReportWorkerAsync(WorkerReport report, CancellationToken cancellationToken);

    /// <summary>The job's shards as the shared shard pipeline sees them.</summary>
    IShardLedger ForJob(string jobId, string modelKey);
}

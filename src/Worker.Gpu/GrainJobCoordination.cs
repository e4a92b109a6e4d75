using TempMe.Pipeline.Contracts;
using TempMe.Pipeline.Grains.Coordination;
using TempMe.Pipeline.Ledger.Postgres;

namespace TempMe.Pipeline.Worker.Gpu;

/// <summary><see cref="IJobCoordination"/> through the coordination grains, from inside a worker silo.</summary>
/// <param name="grains">The worker silo's grain factory.</param>
/// <param name="silo">This silo's address in parsable form, recorded with each lease.</param>
internal sealed class GrainJobCoordination(IGrainFactory grains, string silo) : IJobCoordination
{
    /// <inheritdoc />
    public Task<string?> FindClaimableJobAsync(CancellationToken cancellationToken) =>
        GrainCalls.RunAsync(() => grains.GetGrain<IWorkQueueGrain>(0).FindClaimableJobAsync(), cancellationToken);

    /// <inheritdoc />
    public Task<JobStatus?> GetJobForWorkAsync(string jobId, CancellationToken cancellationToken) =>
        GrainCalls.RunAsync(() => Job(jobId).GetForWorkAsync(), cancellationToken);

    /// <inheritdoc />
    public Task SetJobModelAsync(string jobId, string fingerprint, int embeddingSize, string samplingKey, CancellationToken cancellationToken) =>
        GrainCalls.RunAsync(() => Job(jobId).SetModelAsync(fingerprint, embeddingSize, samplingKey), cancellationToken);

    /// <inheritdoc />
    public Task FailJobAsync(string jobId, string message, CancellationToken cancellationToken) =>
        GrainCalls.RunAsync(() => Job(jobId).FailAsync(message), cancellationToken);

    /// <inheritdoc />
    public Task<JobFailureOutcome?> RecordJobFailureAsync(string jobId, string expectedState, string message, JobRetryPolicy policy, CancellationToken cancellationToken) =>
        GrainCalls.RunAsync(() => Job(jobId).RecordFailureAsync(expectedState, message, policy), cancellationToken);

    /// <inheritdoc />
    public Task ReportWorkerAsync(WorkerReport report, CancellationToken cancellationToken) =>
        GrainCalls.RunAsync(() => grains.GetGrain<IWorkerGrain>(report.Id).ReportAsync(report), cancellationToken);

    /// <inheritdoc />
    public IShardLedger ForJob(string jobId, string modelKey) => new GrainShardLedger(grains, silo, jobId, modelKey);

    private ICorpusJobGrain Job(string jobId) => grains.GetGrain<ICorpusJobGrain>(jobId);
}

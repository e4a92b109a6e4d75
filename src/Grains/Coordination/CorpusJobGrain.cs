using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Concurrency;
using TempMe.Pipeline.Contracts;
using TempMe.Pipeline.Ledger.Postgres;
using TempMe.Pipeline.Indexing.Sources;

namespace TempMe.Pipeline.Grains.Coordination;

/// <summary>
/// <see cref="ICorpusJobGrain"/> over the job's PostgreSQL rows. Reentrant: every call is one short transaction on
/// those rows (they are the state, not this object), so a claim never waits behind a listing of a million videos.
/// </summary>
/// <remarks>
/// The reminder <c>tick</c> lives in the reminders table, so after this grain's silo dies the next tick activates the
/// grain on another coordinator silo, which picks up the due step: a listing that was cut off starts again (it is one
/// transaction, so nothing half-listed is kept), a manifest write is retried. The reminder is dropped once the job
/// is terminal and registered again when retry-failed reopens it.
/// </remarks>
[GrainType("tempme.corpus-job")]
[Reentrant]
internal sealed partial class CorpusJobGrain(PostgresLedger ledger, IOptions<CoordinatorOptions> options, ILogger<CorpusJobGrain> logger) : Grain, ICorpusJobGrain, IRemindable
{
    private const string TickReminder = "tick";

    private readonly CancellationTokenSource _deactivating = new();
    private Task _step = Task.CompletedTask;

    private string JobId => this.GetPrimaryKeyString();

    /// <inheritdoc />
    public async Task StartAsync()
    {
        await this.RegisterOrUpdateReminder(TickReminder, options.Value.JobTick, options.Value.JobTick);
        StartDueStep();
    }

    /// <inheritdoc />
    public Task KickAsync()
    {
        StartDueStep();
        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public Task ReceiveReminder(string reminderName, TickStatus status)
    {
        StartDueStep();
        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public Task<JobStatus?> GetForWorkAsync() => ledger.GetJobForWorkAsync(JobId, _deactivating.Token);

    /// <inheritdoc />
    public Task<ShardLease?> ClaimShardAsync(string workerId, string silo, TimeSpan lease) =>
        ledger.ClaimShardAsync(JobId, workerId, silo, lease, _deactivating.Token);

    /// <inheritdoc />
    public Task<CachedEmbedding?> FindEmbeddingAsync(string modelKey, string contentSha256) =>
        ledger.ForJob(JobId, modelKey).FindEmbeddingAsync(JobId, contentSha256, _deactivating.Token);

    /// <inheritdoc />
    public Task SetModelAsync(string fingerprint, int embeddingSize, string samplingKey) =>
        ledger.SetJobModelAsync(JobId, fingerprint, embeddingSize, samplingKey, _deactivating.Token);

    /// <inheritdoc />
    public Task FailAsync(string message) => ledger.FailJobAsync(JobId, message, _deactivating.Token);

    /// <inheritdoc />
    public Task<JobFailureOutcome?> RecordFailureAsync(string expectedState, string message, JobRetryPolicy policy) =>
        ledger.RecordJobFailureAsync(JobId, expectedState, message, policy, _deactivating.Token);

    /// <inheritdoc />
    public Task<bool> CancelAsync() => ledger.CancelJobAsync(JobId, _deactivating.Token);

    /// <inheritdoc />
    public async Task<long> RetryFailedAsync()
    {
        var requeued = await ledger.RetryFailedAsync(JobId, _deactivating.Token);
        if (requeued > 0)
        {
            // The job is open again: its reminder must drive it to a new manifest.
            await StartAsync();
        }

        return requeued;
    }

    /// <inheritdoc />
    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        _deactivating.Cancel();
        return Task.CompletedTask;
    }

    // One step at a time per activation; a tick while a step runs does nothing (the step is still due next tick if it fails).
    private void StartDueStep()
    {
        if (_step.IsCompleted)
        {
            _step = RunDueStepAsync(_deactivating.Token);
        }
    }

    private async Task RunDueStepAsync(CancellationToken cancellationToken)
    {
        try
        {
            var job = await ledger.GetJobForWorkAsync(JobId, cancellationToken);
            if (job is null || JobStates.IsTerminal(job.State))
            {
                await StopTickingAsync();
                return;
            }

            if (job.RetryAfter is { } after && after > job.ReadAt)
            {
                return;
            }

            if (job.State == JobStates.Queued)
            {
                await ListAsync(job, cancellationToken);
            }
            else if (job.State == JobStates.Finalizing)
            {
                await FinalizeAsync(job, cancellationToken);
            }
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            LogStepFailed(logger, JobId, SecretRedaction.Redact(e.Message));
        }
    }

    private async Task ListAsync(JobStatus job, CancellationToken cancellationToken)
    {
        var roots = new AllowedRoots(options.Value.AllowedRoots);
        try
        {
            var count = await ledger.RegisterListingAsync(JobId, ct => CorpusListing.ListAsync(job.Spec.Source, roots, ct), cancellationToken);
            if (count is { } listed)
            {
                LogListed(logger, JobId, listed, CorpusListing.Display(job.Spec.Source));
            }
        }
        catch (Exception e) when (CorpusListing.IsPermanent(e))
        {
            LogListingFailed(logger, JobId, SecretRedaction.Redact(e.Message));
            await ledger.FailJobAsync(JobId, "cannot list the source: " + SecretRedaction.Redact(e.Message), cancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            // Storage unreachable, throttled, a database outage longer than the retry budget...: try again after the backoff.
            var outcome = await ledger.RecordJobFailureAsync(JobId, JobStates.Queued, "cannot list the source: " + SecretRedaction.Redact(e.Message), options.Value.JobRetry, cancellationToken);
            LogJobRetry(logger, JobId, "listing", outcome?.State ?? "changed", SecretRedaction.Redact(e.Message));
        }
    }

    // Writes both manifests, then (only then) moves the job to its terminal state; on failure it stays finalizing.
    private async Task FinalizeAsync(JobStatus job, CancellationToken cancellationToken)
    {
        if (job.FinalizingSince is not { } since)
        {
            return;
        }

        try
        {
            await JobManifest.WriteAsync(ledger, job, cancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            var message = $"cannot write index.json and failures.jsonl to {CorpusListing.Display(job.Spec.Output)}: {SecretRedaction.Redact(e.Message)}";
            await ledger.RecordJobFailureAsync(JobId, JobStates.Finalizing, message, options.Value.JobRetry.Forever, cancellationToken);
            LogJobRetry(logger, JobId, "manifests", JobStates.Finalizing, SecretRedaction.Redact(e.Message));
            return;
        }

        if (await ledger.CompleteFinalizingAsync(JobId, since, cancellationToken) is { } state)
        {
            LogManifest(logger, JobId, CorpusListing.Display(job.Spec.Output) + " (now " + state + ")");
            await StopTickingAsync();
        }
    }

    private async Task StopTickingAsync()
    {
        if (await this.GetReminder(TickReminder) is { } reminder)
        {
            await this.UnregisterReminder(reminder);
        }

        DeactivateOnIdle();
    }

    [LoggerMessage(5001, LogLevel.Information, "Job {JobId}: listed {Count} videos from {Source}")]
    private static partial void LogListed(ILogger logger, string jobId, long count, string source);

    [LoggerMessage(5002, LogLevel.Warning, "Job {JobId}: cannot list the source: {Message}")]
    private static partial void LogListingFailed(ILogger logger, string jobId, string message);

    [LoggerMessage(5004, LogLevel.Information, "Job {JobId}: wrote index.json and failures.jsonl to {Output}")]
    private static partial void LogManifest(ILogger logger, string jobId, string output);

    [LoggerMessage(5005, LogLevel.Warning, "Job {JobId}: step failed (retried next tick): {Message}")]
    private static partial void LogStepFailed(ILogger logger, string jobId, string message);

    [LoggerMessage(5007, LogLevel.Warning, "Job {JobId}: {Step} failed (job now {State}; retried with backoff): {Message}")]
    private static partial void LogJobRetry(ILogger logger, string jobId, string step, string state, string message);
}

using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using TempMe.Pipeline.Contracts;
using TempMe.Pipeline.Ledger;
using TempMe.Pipeline.Ledger.Postgres;
using TempMe.Pipeline.Pipeline.Output;
using TempMe.Pipeline.Pipeline.Sources;
using TempMe.Pipeline.Storage;

namespace TempMe.Pipeline.Silo;

/// <summary>
/// The silo's background work, all of it restartable because every state lives in PostgreSQL: lists the sources of
/// queued jobs into the ledger, requeues shards whose lease expired, and writes <c>index.json</c> and
/// <c>failures.jsonl</c> for finalizing jobs, then marks them completed. The three run as independent loops, and each
/// job's listing and manifest write runs on its own (failing or backing off alone), so one broken job never stalls the
/// others, the sweeper or the manifests.
/// </summary>
internal sealed class SiloBackgroundService(PostgresLedger ledger, SiloOptions options, ILogger<SiloBackgroundService> logger) : BackgroundService
{
    private const int ConcurrentJobTasks = 4;

    private readonly JobTasks _listings = new(ConcurrentJobTasks);
    private readonly JobTasks _manifests = new(ConcurrentJobTasks);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var tick = TimeSpan.FromTicks(Math.Min(options.SweepInterval.Ticks, TimeSpan.FromSeconds(1).Ticks));
        try
        {
            await Task.WhenAll(
                LoopAsync("listing", tick, StartDueListingsAsync, stoppingToken),
                LoopAsync("lease sweep", options.SweepInterval, SweepAsync, stoppingToken),
                LoopAsync("manifests", tick, StartDueManifestsAsync, stoppingToken));
        }
        finally
        {
            await _listings.WhenAllAsync();
            await _manifests.WhenAllAsync();
        }
    }

    private async Task LoopAsync(string name, TimeSpan interval, Func<CancellationToken, Task> pass, CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await pass(stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                SiloLog.LogWarningBackgroundFailed(logger, name + ": " + SiloHost.Redact(e.Message));
            }

            try
            {
                await Task.Delay(interval, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private async Task SweepAsync(CancellationToken cancellationToken)
    {
        var swept = await ledger.SweepExpiredLeasesAsync(cancellationToken);
        if (swept > 0)
        {
            SiloLog.LogInformationSwept(logger, swept);
        }
    }

    private async Task StartDueListingsAsync(CancellationToken cancellationToken)
    {
        foreach (var jobId in await ledger.ListQueuedJobIdsAsync(cancellationToken))
        {
            _listings.TryStart(jobId, () => ListJobAsync(jobId, cancellationToken));
        }
    }

    private async Task ListJobAsync(string jobId, CancellationToken cancellationToken)
    {
        try
        {
            var job = await ledger.GetJobForWorkAsync(jobId, cancellationToken);
            if (job is null || job.State != JobStates.Queued)
            {
                return;
            }

            try
            {
                var count = await ledger.RegisterListingAsync(jobId, ct => ListSource(job.Spec.Source, new AllowedRoots(options.AllowedRoots), ct), cancellationToken);
                if (count is { } listed)
                {
                    SiloLog.LogInformationListed(logger, jobId, listed, Display(job.Spec.Source));
                }
            }
            catch (Exception e) when (IsPermanentListingError(e))
            {
                SiloLog.LogWarningListingFailed(logger, jobId, SiloHost.Redact(e.Message));
                await ledger.FailJobAsync(jobId, "cannot list the source: " + SiloHost.Redact(e.Message), cancellationToken);
            }
            catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                // Storage unreachable, throttled, a database outage longer than the retry budget...: try again later.
                var outcome = await ledger.RecordJobFailureAsync(jobId, JobStates.Queued, "cannot list the source: " + SiloHost.Redact(e.Message), options.JobRetry, cancellationToken);
                SiloLog.LogWarningJobRetry(logger, jobId, "listing", outcome?.State ?? "changed", SiloHost.Redact(e.Message));
            }
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            SiloLog.LogWarningBackgroundFailed(logger, $"listing of {jobId}: {SiloHost.Redact(e.Message)}");
        }
    }

    /// <summary>Errors that listing again cannot cure: the job fails at once.</summary>
    private static bool IsPermanentListingError(Exception e) =>
        e is ArgumentException or FileNotFoundException or DirectoryNotFoundException or UnauthorizedAccessException
            or BlobStorageException { IsTransient: false };

    /// <summary>
    /// Lists a job's source: a local folder or list file (entries leading outside <paramref name="roots"/> come back
    /// refused) or a blob prefix, keeping only video file extensions.
    /// </summary>
    internal static async IAsyncEnumerable<SourceVideo> ListSource(string source, AllowedRoots roots, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var address = BlobAddress.Parse(source);
        if (address.Kind == BlobAddressKind.LocalFolder)
        {
            foreach (var video in LocalSourceLister.List(address.LocalPath!, allowedRoots: roots))
            {
                yield return video;
            }

            yield break;
        }

        var store = BlobStoreFactory.OpenFromEnvironment(source);
        await foreach (var item in store.ListAsync("", cancellationToken))
        {
            if (LocalSourceLister.VideoExtensions.Contains(Path.GetExtension(item.Name)))
            {
                yield return new SourceVideo(JobSources.VideoSource(store, item.Name), item.Size, item.LastModified);
            }
        }
    }

    private async Task StartDueManifestsAsync(CancellationToken cancellationToken)
    {
        foreach (var jobId in await ledger.ListJobsNeedingManifestAsync(cancellationToken))
        {
            _manifests.TryStart(jobId, () => FinalizeJobAsync(jobId, cancellationToken));
        }
    }

    /// <summary>Writes both manifests, then (only then) moves the job to its terminal state; on failure it stays finalizing and is retried with backoff.</summary>
    private async Task FinalizeJobAsync(string jobId, CancellationToken cancellationToken)
    {
        try
        {
            var job = await ledger.GetJobForWorkAsync(jobId, cancellationToken);
            if (job is not { State: JobStates.Finalizing, FinalizingSince: { } since })
            {
                return;
            }

            try
            {
                await WriteManifestAsync(ledger, job, cancellationToken);
            }
            catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                var message = $"cannot write index.json and failures.jsonl to {Display(job.Spec.Output)}: {SiloHost.Redact(e.Message)}";
                await ledger.RecordJobFailureAsync(jobId, JobStates.Finalizing, message, options.JobRetry.Forever, cancellationToken);
                SiloLog.LogWarningJobRetry(logger, jobId, "manifests", JobStates.Finalizing, SiloHost.Redact(e.Message));
                return;
            }

            if (await ledger.CompleteFinalizingAsync(jobId, since, cancellationToken) is { } state)
            {
                SiloLog.LogInformationManifest(logger, jobId, Display(job.Spec.Output) + " (now " + state + ")");
            }
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            SiloLog.LogWarningBackgroundFailed(logger, $"manifests of {jobId}: {SiloHost.Redact(e.Message)}");
        }
    }

    /// <summary>Writes a job's <c>index.json</c> and <c>failures.jsonl</c>, in the same layout as <c>tempme index</c>.</summary>
    internal static async Task WriteManifestAsync(PostgresLedger ledger, JobStatus job, CancellationToken cancellationToken)
    {
        var output = BlobStoreFactory.OpenFromEnvironment(job.Spec.Output);
        await BlobStoreFactory.EnsureExistsAsync(output, cancellationToken);
        var parts = await ledger.ListPartsAsync(job.Id, cancellationToken);
        var failures = await ledger.ListFailuresAsync(job.Id, int.MaxValue, cancellationToken);
        var sampling = SamplingSettings.Default with { Frames = job.Spec.Frames };
        var manifest = new IndexManifest
        {
            Model = new ManifestModel(AddressSecrets.Redact(job.Spec.Model), job.ModelFingerprint ?? ""),
            Sampling = new ManifestSampling(sampling.Frames, sampling.ImageSize, sampling.FramesPerSecond, job.SamplingKey ?? sampling.Key),
            EmbeddingSize = job.EmbeddingSize ?? 0,
            Counts = new ManifestCounts(job.Total, job.Done, job.Failed, job.Pending),
            Parts = parts.Select(p => new ManifestPart(p.Name + ".npy", p.Name + ".jsonl", p.Rows)).ToList(),
        };
        await IndexManifest.WriteAsync(output, manifest, failures, cancellationToken);
    }

    /// <summary>An address fit for logs: no SAS or key.</summary>
    internal static string Display(string address)
    {
        try
        {
            return BlobAddress.Parse(address).ToString();
        }
        catch (ArgumentException)
        {
            return "(invalid address)";
        }
    }
}

/// <summary>
/// Runs at most one task per job and at most <c>limit</c> at once, so a slow or stuck job (a listing waiting on an
/// unreachable store) never holds up the others.
/// </summary>
internal sealed class JobTasks(int limit)
{
    private readonly ConcurrentDictionary<string, Task?> _running = new(StringComparer.Ordinal);

    /// <summary>Starts <paramref name="work"/> for a job unless one is running for it or the limit is reached.</summary>
    public bool TryStart(string jobId, Func<Task> work)
    {
        if (_running.Count >= limit || !_running.TryAdd(jobId, null))
        {
            return false;
        }

        var task = Task.Run(async () =>
        {
            try
            {
                await work();
            }
            finally
            {
                _running.TryRemove(jobId, out _);
            }
        });
        _running.TryUpdate(jobId, task, null);
        return true;
    }

    /// <summary>Waits for the tasks still running (on shutdown; each observes the stopping token).</summary>
    public async Task WhenAllAsync()
    {
        try
        {
            await Task.WhenAll(_running.Values.OfType<Task>());
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // Each task logs its own failures; shutting down, nothing is left to do with them.
        }
    }
}

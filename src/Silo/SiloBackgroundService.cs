using System.Runtime.CompilerServices;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using TempMe.Pipeline.Contracts;
using TempMe.Pipeline.Grains;
using TempMe.Pipeline.Grains.Postgres;
using TempMe.Pipeline.Pipeline.Output;
using TempMe.Pipeline.Pipeline.Sources;
using TempMe.Pipeline.Storage;

namespace TempMe.Pipeline.Silo;

/// <summary>
/// The silo's background work, all of it restartable because every state lives in PostgreSQL: lists the sources of
/// queued jobs into the ledger, requeues shards whose lease expired, and writes <c>index.json</c> and
/// <c>failures.jsonl</c> for jobs that reached a terminal state.
/// </summary>
internal sealed class SiloBackgroundService(PostgresLedger ledger, SiloOptions options, ILogger<SiloBackgroundService> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var tick = TimeSpan.FromTicks(Math.Min(options.SweepInterval.Ticks, TimeSpan.FromSeconds(1).Ticks));
        var lastSweep = DateTimeOffset.MinValue;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await ListQueuedJobsAsync(stoppingToken);
                if (DateTimeOffset.UtcNow - lastSweep >= options.SweepInterval)
                {
                    lastSweep = DateTimeOffset.UtcNow;
                    var swept = await ledger.SweepExpiredLeasesAsync(stoppingToken);
                    if (swept > 0)
                    {
                        SiloLog.LogInformationSwept(logger, swept);
                    }
                }

                await WriteManifestsAsync(stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                SiloLog.LogWarningBackgroundFailed(logger, SiloHost.Redact(e.Message));
            }

            try
            {
                await Task.Delay(tick, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private async Task ListQueuedJobsAsync(CancellationToken cancellationToken)
    {
        foreach (var jobId in await ledger.ListQueuedJobIdsAsync(cancellationToken))
        {
            var job = await ledger.GetJobForWorkAsync(jobId, cancellationToken);
            if (job is null)
            {
                continue;
            }

            try
            {
                var count = await ledger.RegisterListingAsync(jobId, ct => ListSource(job.Spec.Source, ct), cancellationToken);
                if (count is { } listed)
                {
                    SiloLog.LogInformationListed(logger, jobId, listed, Display(job.Spec.Source));
                }
            }
            catch (Exception e) when (e is ArgumentException or FileNotFoundException or DirectoryNotFoundException or UnauthorizedAccessException
                                          or BlobStorageException { IsTransient: false })
            {
                SiloLog.LogWarningListingFailed(logger, jobId, SiloHost.Redact(e.Message));
                await ledger.FailJobAsync(jobId, "cannot list the source: " + SiloHost.Redact(e.Message), cancellationToken);
            }
        }
    }

    /// <summary>Lists a job's source: a local folder or a blob prefix, keeping only video file extensions.</summary>
    internal static async IAsyncEnumerable<SourceVideo> ListSource(string source, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var address = BlobAddress.Parse(source);
        if (address.Kind == BlobAddressKind.LocalFolder)
        {
            foreach (var video in LocalSourceLister.List(address.LocalPath!))
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

    private async Task WriteManifestsAsync(CancellationToken cancellationToken)
    {
        foreach (var jobId in await ledger.ListJobsNeedingManifestAsync(cancellationToken))
        {
            var job = await ledger.GetJobForWorkAsync(jobId, cancellationToken);
            if (job is null)
            {
                continue;
            }

            await WriteManifestAsync(ledger, job, cancellationToken);
            await ledger.MarkManifestWrittenAsync(jobId, cancellationToken);
            SiloLog.LogInformationManifest(logger, jobId, Display(job.Spec.Output));
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

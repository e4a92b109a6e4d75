using System.Diagnostics;
using TempMe.Pipeline.Contracts;
using TempMe.Pipeline.Ledger;
using TempMe.Pipeline.Ledger.Sqlite;
using TempMe.Pipeline.Indexing.Output;
using TempMe.Pipeline.Indexing.Sources;

namespace TempMe.Pipeline.Indexing;

/// <summary>What <c>tempme index</c> was asked to do.</summary>
/// <param name="Source">A folder of videos or a text file listing video paths.</param>
/// <param name="OutputFolder">Where the index goes; its ledger lives in <c>.tempme/ledger.db</c> inside it.</param>
/// <param name="ModelSpec">The model as the user named it.</param>
/// <param name="Sampling">Frame sampling settings.</param>
/// <param name="ShardSize">Videos per part file.</param>
/// <param name="Pipeline">Decoders, batch size, attempts.</param>
public sealed record LocalIndexRequest(string Source, string OutputFolder, string ModelSpec, SamplingSettings Sampling, int ShardSize, ShardPipelineOptions Pipeline);

/// <summary>The outcome of one <c>tempme index</c> run.</summary>
/// <param name="Listing">How the listing compared with the ledger.</param>
/// <param name="SkippedAlreadyDone">Videos already done before this run started.</param>
/// <param name="Counters">What this run did.</param>
/// <param name="Final">Ledger counts after the run.</param>
/// <param name="FailuresByCode">All final failures by error code.</param>
/// <param name="Elapsed">Wall time of the run.</param>
public sealed record LocalIndexSummary(ListingSummary Listing, long SkippedAlreadyDone, PipelineCounters Counters, LedgerCounts Final, IReadOnlyDictionary<string, int> FailuresByCode, TimeSpan Elapsed);

/// <summary>
/// The single-machine job: a SQLite ledger and a local output folder, driving the same <see cref="ShardPipeline"/>
/// as the distributed workers with one in-process claimer. Safe to interrupt at any point and run again.
/// </summary>
public static class LocalIndexer
{
    /// <summary>The ledger file of an output folder.</summary>
    public static string LedgerPath(string outputFolder) => Path.Combine(outputFolder, ".tempme", "ledger.db");

    /// <summary>The job recorded in an existing output folder, or null when it holds no index yet.</summary>
    public static async Task<JobRecord?> ReadExistingJobAsync(string outputFolder, CancellationToken cancellationToken)
    {
        var path = LedgerPath(outputFolder);
        if (!File.Exists(path))
        {
            return null;
        }

        return await IndexStorageException.TranslateAsync(outputFolder, async () =>
        {
            await using var ledger = await SqliteLedger.OpenAsync(path, cancellationToken: cancellationToken);
            return await ledger.ReadJobAsync(cancellationToken);
        });
    }

    /// <summary>
    /// Takes the output folder's lock, lists the source, brings the ledger up to date, processes every unfinished
    /// shard, then writes <c>failures.jsonl</c> and <c>index.json</c>. <paramref name="onStarted"/> receives the live
    /// counters once work begins.
    /// </summary>
    /// <exception cref="OutputFolderBusyException">Another run holds the output folder.</exception>
    /// <exception cref="IndexStorageException">The output folder or the ledger could not be written; the run stopped there.</exception>
    public static async Task<LocalIndexSummary> RunAsync(
        LocalIndexRequest request,
        IVideoEncoder encoder,
        IFrameSampler sampler,
        IBlobStore output,
        Action<PipelineCounters, LedgerCounts>? onStarted,
        CancellationToken cancellationToken)
    {
        return await IndexStorageException.TranslateAsync(request.OutputFolder, async () =>
        {
            // Held for the whole run: a second run on the folder would reclaim this one's leases as abandoned.
            using var folderLock = OutputFolderLock.Acquire(request.OutputFolder);
            return await RunLockedAsync(request, encoder, sampler, output, onStarted, cancellationToken);
        });
    }

    private static async Task<LocalIndexSummary> RunLockedAsync(
        LocalIndexRequest request,
        IVideoEncoder encoder,
        IFrameSampler sampler,
        IBlobStore output,
        Action<PipelineCounters, LedgerCounts>? onStarted,
        CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        var job = new JobRecord(request.ModelSpec, encoder.Fingerprint, request.Sampling.Key, encoder.EmbeddingSize, request.ShardSize);
        await using var ledger = await SqliteLedger.OpenAsync(LedgerPath(request.OutputFolder), cancellationToken: cancellationToken);
        job = await ledger.EnsureJobAsync(job, cancellationToken);
        await ledger.ReclaimAbandonedLeasesAsync(cancellationToken);

        var listing = LocalSourceLister.List(request.Source, excludeFolder: request.OutputFolder);
        var listingSummary = await ledger.SyncListingAsync(listing, request.Pipeline.MaxAttempts, cancellationToken);
        var before = await ledger.CountAsync(cancellationToken);

        var pipeline = new ShardPipeline(ledger, new LocalFileFetcher(), sampler, encoder, output, request.Sampling, request.Pipeline);
        onStarted?.Invoke(pipeline.Counters, before);
        try
        {
            await pipeline.RunAsync(cancellationToken);
        }
        catch (OperationCanceledException)
        {
            // Also after Ctrl-C: the manifest then tells how far the index got.
            await WriteManifestAsync(ledger, job, request, output, CancellationToken.None);
            throw;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // The failure that stopped the run is the one to report; on a full disk the manifest usually fails too.
            await TryWriteManifestAsync(ledger, job, request, output);
            throw;
        }

        var (after, failures) = await WriteManifestAsync(ledger, job, request, output, CancellationToken.None);
        var byCode = failures.GroupBy(f => f.ErrorCode).ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);
        return new LocalIndexSummary(listingSummary, before.Done, pipeline.Counters, after, byCode, clock.Elapsed);
    }

    private static async Task TryWriteManifestAsync(SqliteLedger ledger, JobRecord job, LocalIndexRequest request, IBlobStore output)
    {
        try
        {
            await WriteManifestAsync(ledger, job, request, output, CancellationToken.None);
        }
        catch (Exception e) when (IndexStorageException.From(e, request.OutputFolder) is not null)
        {
            // Left as the previous run wrote it; the next complete run rewrites it.
        }
    }

    /// <summary>Writes <c>index.json</c> and <c>failures.jsonl</c> from the ledger; returns what it wrote them from.</summary>
    private static async Task<(LedgerCounts Counts, IReadOnlyList<FailureRecord> Failures)> WriteManifestAsync(SqliteLedger ledger, JobRecord job, LocalIndexRequest request, IBlobStore output, CancellationToken cancellationToken)
    {
        var counts = await ledger.CountAsync(cancellationToken);
        var parts = await ledger.ListPartsAsync(cancellationToken);
        var failures = await ledger.ListFailuresAsync(cancellationToken);
        var manifest = new IndexManifest
        {
            Model = new ManifestModel(job.ModelSpec, job.ModelFingerprint),
            Sampling = new ManifestSampling(request.Sampling.Frames, request.Sampling.ImageSize, request.Sampling.FramesPerSecond, request.Sampling.Key),
            EmbeddingSize = job.EmbeddingSize,
            Counts = new ManifestCounts(counts.Total, counts.Done, counts.Failed, counts.Pending),
            Parts = parts.Select(p => new ManifestPart(p.Name + ".npy", p.Name + ".jsonl", p.Rows)).ToList(),
        };
        await IndexManifest.WriteAsync(output, manifest, failures, cancellationToken);
        return (counts, failures);
    }
}

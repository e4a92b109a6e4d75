using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Logging;
using TempMe.Pipeline.Contracts;
using TempMe.Pipeline.Encoder;
using TempMe.Pipeline.Ledger;
using TempMe.Pipeline.Ledger.Postgres;
using TempMe.Pipeline.Hosting;
using TempMe.Pipeline.Media;
using TempMe.Pipeline.Indexing;
using TempMe.Pipeline.Indexing.Sources;
using TempMe.Pipeline.Storage;

namespace TempMe.Pipeline.Worker.Gpu;

/// <summary>
/// The worker loop: ask the coordinators for a running job with a claimable shard, load its encoder (cached), open its
/// output store, and run the shared <see cref="ShardPipeline"/> over the job's grains until the job has nothing left
/// to claim; then the next job, or an idle poll. It runs on the thread pool, outside the Orleans scheduler, so a
/// worker silo encoding at full CPU still answers the cluster's membership probes. Cancellation (SIGTERM, Ctrl-C) stops claiming and hands back
/// unfinished shards (the pipeline does that), so another worker takes them at once.
/// </summary>
internal sealed class WorkerHost(WorkerOptions options, ILogger logger)
{
    // The OpenTelemetry service.name of workers (OTEL_SERVICE_NAME overrides it).
    private const string ServiceName = "tempme-worker";

    private readonly ModelCache _models = new(options.ModelCacheFolder, options.ModelRoots, options.MaxModelBytes);
    private readonly DateTimeOffset _started = DateTimeOffset.UtcNow;
    private readonly WorkerTimes _times = new();
    private long _done;
    private long _failed;
    private double _decode;
    private double _encode;
    private volatile string? _currentJob;
    private volatile PipelineCounters? _current;

    /// <summary>
    /// Runs until cancelled, asking the coordinators for work through <paramref name="coordination"/>;
    /// <paramref name="isReadyAsync"/> answers <c>/readyz</c> (the worker silo is active in the cluster).
    /// </summary>
    public async Task RunAsync(IJobCoordination coordination, Func<CancellationToken, Task<bool>> isReadyAsync, CancellationToken cancellationToken)
    {
        await using var health = await StartHealthAsync(isReadyAsync, cancellationToken);
        using var stopReports = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var reports = ReportLoopAsync(coordination, stopReports.Token);
        WorkerLog.LogInformationStarted(logger, options.WorkerId);
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                string? jobId;
                try
                {
                    jobId = await coordination.FindClaimableJobAsync(cancellationToken);
                    if (jobId is not null)
                    {
                        await RunJobAsync(coordination, jobId, cancellationToken);
                        continue;
                    }
                }
                catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
                {
                    throw;
                }
                catch (Exception e)
                {
                    WorkerLog.LogWarningJobPassFailed(logger, e.GetType().Name, SecretRedaction.Redact(e.Message));
                }

                await Task.Delay(options.IdlePoll, cancellationToken);
            }
        }
        finally
        {
            await stopReports.CancelAsync();
            await reports;
            try
            {
                await coordination.ReportWorkerAsync(Report(), CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(3), CancellationToken.None);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                WorkerLog.LogWarningJobPassFailed(logger, e.GetType().Name, e.Message);
            }
        }
    }

    private async Task RunJobAsync(IJobCoordination ledger, string jobId, CancellationToken cancellationToken)
    {
        var job = await ledger.GetJobForWorkAsync(jobId, cancellationToken);
        if (job is null || job.State != JobStates.Running)
        {
            return;
        }

        var sampling = SamplingSettings.Default with { Frames = job.Spec.Frames };
        IVideoEncoder encoder;
        using var notices = new StringWriter();
        try
        {
            encoder = await _models.GetAsync(job.Spec.Model, job.Spec.Frames, notices, cancellationToken);
        }
        catch (Exception e) when (IsJobFailure(e, cancellationToken))
        {
            await RecordJobFailureAsync(ledger, jobId, "cannot load the model", e, cancellationToken);
            return;
        }

        var record = new JobRecord(job.Spec.Model, encoder.Fingerprint, sampling.Key, encoder.EmbeddingSize, job.Spec.ShardSize);
        await ledger.SetJobModelAsync(jobId, encoder.Fingerprint, encoder.EmbeddingSize, sampling.Key, cancellationToken);
        if (job.ModelFingerprint is { } known && known != encoder.Fingerprint)
        {
            await ledger.FailJobAsync(jobId, $"workers loaded different weights for model {AddressSecrets.Redact(job.Spec.Model)} (fingerprints {known[..12]} and {encoder.Fingerprint[..12]}); make every worker see the same checkpoint.", cancellationToken);
            return;
        }

        IBlobStore output;
        try
        {
            output = BlobStoreFactory.OpenFromEnvironment(job.Spec.Output);
            await BlobStoreFactory.EnsureExistsAsync(output, cancellationToken);
        }
        catch (Exception e) when (IsJobFailure(e, cancellationToken))
        {
            await RecordJobFailureAsync(ledger, jobId, "cannot open the output", e, cancellationToken);
            return;
        }

        var sourceAddress = BlobAddress.Parse(job.Spec.Source);
        var tempFolder = Path.Combine(Path.GetTempPath(), "tempme-worker", SafeName(options.WorkerId));
        ISourceFetcher fetcher = sourceAddress.Kind == BlobAddressKind.LocalFolder
            ? new LocalFileFetcher()
            : new BlobSourceFetcher(BlobStoreFactory.OpenFromEnvironment(job.Spec.Source), tempFolder);
        var sampler = new FfmpegFrameSampler(new FfmpegFrameSamplerOptions { PerVideoTimeout = options.PerVideoTimeout });
        var pipeline = new ShardPipeline(ledger.ForJob(jobId, record.ModelKey), new TimedSourceFetcher(fetcher, _times), sampler, encoder, new TimedBlobStore(output, _times), sampling, new ShardPipelineOptions
        {
            WorkerId = options.WorkerId,
            Decoders = options.Concurrency,
            BatchSize = options.BatchSize,
            Lease = options.Lease,
            Heartbeat = options.Heartbeat,
            MaxAttempts = job.Spec.MaxAttempts,
            StopWhenIdle = true,
            IdlePoll = TimeSpan.FromSeconds(1),
        });
        WorkerLog.LogInformationJob(logger, jobId, encoder.Fingerprint[..12]);
        _currentJob = jobId;
        _current = pipeline.Counters;
        try
        {
            await pipeline.RunAsync(cancellationToken);
        }
        catch (Exception e) when (IsJobFailure(e, cancellationToken))
        {
            // A pass that fails (a part cannot be written...) counts against the job; its shards were handed back.
            await RecordJobFailureAsync(ledger, jobId, "a worker's pass over the job failed", e, cancellationToken, neverAtOnce: true);
        }
        finally
        {
            var c = pipeline.Counters;
            Interlocked.Add(ref _done, c.Done);
            Interlocked.Add(ref _failed, c.Failed);
            _decode += c.DecodeSeconds;
            _encode += c.EncodeSeconds;
            _current = null;
            _currentJob = null;
            WorkerLog.LogInformationJobPass(logger, jobId, c.Done, c.Failed, c.LostShards);
        }
    }

    /// <summary>
    /// Whether <paramref name="e"/> is the job's problem (model, output, a failed pass) rather than this worker being
    /// stopped or the database being away (those are retried as before and never count against the job).
    /// </summary>
    private static bool IsJobFailure(Exception e, CancellationToken cancellationToken) =>
        !(e is OperationCanceledException && cancellationToken.IsCancellationRequested) && !PostgresLedger.IsTransientDatabaseError(e) && !GrainCalls.IsTransient(e) && e is not OutOfMemoryException;

    /// <summary>
    /// Fails the job at once when every worker would fail the same way (a bad model, a missing container, access denied);
    /// otherwise counts one more failure in a row: the job waits out a backoff (other jobs are claimed meanwhile) and
    /// fails after the configured number.
    /// </summary>
    private async Task RecordJobFailureAsync(IJobCoordination ledger, string jobId, string what, Exception e, CancellationToken cancellationToken, bool neverAtOnce = false)
    {
        var message = $"{what}: {SecretRedaction.Redact(e.Message)}";
        WorkerLog.LogWarningJobFailed(logger, jobId, e.GetType().Name, message);
        if (!neverAtOnce && e is ModelLoadException or ArgumentException or FileNotFoundException or DirectoryNotFoundException or UnauthorizedAccessException or BlobStorageException { IsTransient: false })
        {
            await ledger.FailJobAsync(jobId, message, cancellationToken);
            return;
        }

        await ledger.RecordJobFailureAsync(jobId, JobStates.Running, message, options.JobRetry, cancellationToken);
    }

    private WorkerReport Report()
    {
        var c = _current;
        var download = _times.DownloadSeconds;

        // The pipeline counts fetch + decode together; the dashboard shows download and decode apart.
        return new WorkerReport(options.WorkerId, Environment.MachineName, _started, _currentJob,
            Interlocked.Read(ref _done) + (c?.Done ?? 0), Interlocked.Read(ref _failed) + (c?.Failed ?? 0),
            Math.Max(0, _decode + (c?.DecodeSeconds ?? 0) - download), _encode + (c?.EncodeSeconds ?? 0))
        {
            DownloadSeconds = download,
            UploadSeconds = _times.UploadSeconds,
        };
    }

    private async Task ReportLoopAsync(IJobCoordination ledger, CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                await ledger.ReportWorkerAsync(Report(), cancellationToken);
                await Task.Delay(options.Heartbeat, cancellationToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            catch (Exception e)
            {
                WorkerLog.LogWarningJobPassFailed(logger, e.GetType().Name, e.Message);
                try
                {
                    await Task.Delay(options.Heartbeat, cancellationToken);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }

    private async Task<IAsyncDisposable> StartHealthAsync(Func<CancellationToken, Task<bool>> isReadyAsync, CancellationToken cancellationToken)
    {
        // Metrics go out through OTLP when OTEL_EXPORTER_OTLP_ENDPOINT is set, listener or not.
        if (string.IsNullOrWhiteSpace(options.HealthUrls))
        {
            return await TempMeHostingExtensions.StartOtlpHostIfConfiguredAsync(ServiceName, cancellationToken) ?? new NoHealth();
        }

        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [] });
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls(options.HealthUrls.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries));
        builder.AddTempMeDefaults(ServiceName, _ => new TempMeReadiness
        {
            IsReadyAsync = isReadyAsync,
            NotReadyDetail = "The worker silo is not active in the cluster (joining, leaving, or declared dead), or PostgreSQL is unreachable.",
        });
        var app = builder.Build();
        app.MapTempMeDefaults();
        await app.StartAsync(cancellationToken);
        return app;
    }

    private static string SafeName(string text) => string.Concat(text.Select(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' ? c : '_'));

    private sealed class NoHealth : IAsyncDisposable
    {
        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}

/// <summary>The worker cannot start; the message says why.</summary>
internal sealed class WorkerStartException(string message) : Exception(message);

/// <summary>Worker log messages (event ids 5100-5199).</summary>
internal static partial class WorkerLog
{
    [LoggerMessage(5100, LogLevel.Warning, "PostgreSQL call failed transiently; retrying in {DelaySeconds:0.0} s: {Message}")]
    public static partial void LogWarningDatabaseRetry(ILogger logger, double delaySeconds, string message);

    [LoggerMessage(5101, LogLevel.Information, "Worker {WorkerId} started")]
    public static partial void LogInformationStarted(ILogger logger, string workerId);

    [LoggerMessage(5102, LogLevel.Information, "Working on job {JobId} (model {Fingerprint})")]
    public static partial void LogInformationJob(ILogger logger, string jobId, string fingerprint);

    [LoggerMessage(5103, LogLevel.Information, "Job {JobId}: nothing left to claim; this pass embedded {Done}, failed {Failed}, lost {Lost} shard(s)")]
    public static partial void LogInformationJobPass(ILogger logger, string jobId, long done, long failed, long lost);

    [LoggerMessage(5104, LogLevel.Warning, "Worker pass failed ({Type}): {Message}; retrying")]
    public static partial void LogWarningJobPassFailed(ILogger logger, string type, string message);

    [LoggerMessage(5106, LogLevel.Warning, "Job {JobId}: {Type}: {Message}")]
    public static partial void LogWarningJobFailed(ILogger logger, string jobId, string type, string message);
}

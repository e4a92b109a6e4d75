using TempMe.Pipeline.Encoder;
using TempMe.Pipeline.Ledger.Postgres;

namespace TempMe.Pipeline.Worker.Gpu;

/// <summary>How <c>tempme worker</c> runs.</summary>
internal sealed class WorkerOptions
{
    /// <summary>PostgreSQL connection string.</summary>
    public required string ConnectionString { get; init; }

    /// <summary>Identity written into leases and the workers table.</summary>
    public string WorkerId { get; init; } = $"{Environment.MachineName}:{Environment.ProcessId}";

    /// <summary>Lease length; a worker silent this long loses its shards.</summary>
    public TimeSpan Lease { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>Interval of lease renewals and worker reports.</summary>
    public TimeSpan Heartbeat { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Concurrent fetch + decode slots.</summary>
    public int Concurrency { get; init; } = 2;

    /// <summary>Videos per encoder call.</summary>
    public int BatchSize { get; init; } = 4;

    /// <summary>How long to wait between polls when no job has work.</summary>
    public TimeSpan IdlePoll { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>Decode time limit per video.</summary>
    public TimeSpan PerVideoTimeout { get; init; } = TimeSpan.FromSeconds(120);

    /// <summary>URLs for the <c>/healthz</c> and <c>/readyz</c> listener; empty for none.</summary>
    public string? HealthUrls { get; init; }

    /// <summary>
    /// Backoff and limit for a job whose model or output cannot be opened, or whose passes keep failing (counted in the
    /// ledger across workers, reset when a shard completes); the last failure allowed fails the job.
    /// </summary>
    public JobRetryPolicy JobRetry { get; init; } = new(6, TimeSpan.FromSeconds(2), TimeSpan.FromMinutes(2));

    /// <summary>Where checkpoints named by blob prefixes are downloaded to.</summary>
    public string ModelCacheFolder { get; init; } = Path.Combine(Path.GetTempPath(), "tempme-models");

    /// <summary>Local folders a job's model may lie under; none refuses every local model.</summary>
    public ModelRoots ModelRoots { get; init; } = ModelRoots.None;

    /// <summary>The most bytes one model prefix may download.</summary>
    public long MaxModelBytes { get; init; } = DefaultMaxModelBytes;

    /// <summary>Default of <see cref="MaxModelBytes"/>: 4 GiB, above the largest CLIP checkpoints in float32.</summary>
    public const long DefaultMaxModelBytes = 4L << 30;

    /// <summary>The Orleans cluster this worker silo joins.</summary>
    public TempMe.Pipeline.Grains.Cluster.ClusterIdentity Cluster { get; init; } = TempMe.Pipeline.Grains.Cluster.ClusterIdentity.Default;

    /// <summary>The worker silo's ports and advertised address.</summary>
    public TempMe.Pipeline.Grains.Cluster.SiloEndpoints Endpoints { get; init; } = new();
}

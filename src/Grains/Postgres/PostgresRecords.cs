using System.Text.Json.Serialization;

namespace TempMe.Pipeline.Grains.Postgres;

/// <summary>Job states as stored in <c>jobs.state</c>. They are persisted: never rename one.</summary>
public static class JobStates
{
    /// <summary>Submitted; the source is not yet listed into the ledger.</summary>
    public const string Queued = "queued";

    /// <summary>Listed; shards are being processed.</summary>
    public const string Running = "running";

    /// <summary>Every video has an embedding.</summary>
    public const string Completed = "completed";

    /// <summary>Every video is settled and some failed for good.</summary>
    public const string CompletedWithFailures = "completed_with_failures";

    /// <summary>The job could not run at all (for example its source could not be listed).</summary>
    public const string Failed = "failed";

    /// <summary>Cancelled by a user; no further shard is claimed.</summary>
    public const string Cancelled = "cancelled";

    /// <summary>Whether a job in <paramref name="state"/> will not change any more by itself.</summary>
    public static bool IsTerminal(string state) => state is Completed or CompletedWithFailures or Failed or Cancelled;
}

/// <summary>What a user asks the silo to index.</summary>
/// <param name="Source">A blob prefix or local folder holding the videos.</param>
/// <param name="Output">A blob prefix or local folder the index is written to.</param>
/// <param name="Model">The model: <c>random:vit-b32</c>, a folder visible to workers, or a blob prefix.</param>
/// <param name="Frames">Frames sampled per video.</param>
/// <param name="ShardSize">Videos per shard and part file.</param>
/// <param name="MaxAttempts">Attempts before a retryable failure is final.</param>
public sealed record DistributedJobSpec(
    [property: JsonPropertyName("source")] string Source,
    [property: JsonPropertyName("output")] string Output,
    [property: JsonPropertyName("model")] string Model,
    [property: JsonPropertyName("frames")] int Frames,
    [property: JsonPropertyName("shardSize")] int ShardSize,
    [property: JsonPropertyName("maxAttempts")] int MaxAttempts);

/// <summary>A job row with its counters, read without scanning videos.</summary>
public sealed record JobStatus
{
    /// <summary>Job id.</summary>
    public required string Id { get; init; }

    /// <summary>One of <see cref="JobStates"/>.</summary>
    public required string State { get; init; }

    /// <summary>What was submitted.</summary>
    public required DistributedJobSpec Spec { get; init; }

    /// <summary>Why the job failed, when it did.</summary>
    public string? Message { get; init; }

    /// <summary>Submission time.</summary>
    public DateTimeOffset Created { get; init; }

    /// <summary>When the listing was registered.</summary>
    public DateTimeOffset? Started { get; init; }

    /// <summary>When the job reached a terminal state.</summary>
    public DateTimeOffset? Finished { get; init; }

    /// <summary>Listed videos.</summary>
    public long Total { get; init; }

    /// <summary>Videos with an embedding.</summary>
    public long Done { get; init; }

    /// <summary>Videos failed for good.</summary>
    public long Failed { get; init; }

    /// <summary>Videos still to do.</summary>
    public long Pending { get; init; }

    /// <summary>Shards in the job.</summary>
    public long ShardsTotal { get; init; }

    /// <summary>Shards done.</summary>
    public long ShardsDone { get; init; }

    /// <summary>Fingerprint of the model, once a worker loaded it.</summary>
    public string? ModelFingerprint { get; init; }

    /// <summary>Embedding width, once a worker loaded the model.</summary>
    public int? EmbeddingSize { get; init; }

    /// <summary>Sampling key, once a worker loaded the model.</summary>
    public string? SamplingKey { get; init; }

    /// <summary>Whether <c>index.json</c> and <c>failures.jsonl</c> were written for the terminal state.</summary>
    public bool ManifestWritten { get; init; }

    /// <summary>Server time when the row was read, for rates.</summary>
    public DateTimeOffset ReadAt { get; init; }
}

/// <summary>A worker's report, written with each of its heartbeats.</summary>
/// <param name="Id">Worker id.</param>
/// <param name="Host">Host name.</param>
/// <param name="Started">Process start.</param>
/// <param name="CurrentJob">The job it works on, if any.</param>
/// <param name="VideosDone">Videos embedded since start.</param>
/// <param name="VideosFailed">Videos failed since start.</param>
/// <param name="DecodeSeconds">Seconds spent probing, hashing and decoding (without <see cref="DownloadSeconds"/>).</param>
/// <param name="EncodeSeconds">Seconds spent encoding.</param>
public sealed record WorkerReport(string Id, string Host, DateTimeOffset Started, string? CurrentJob, long VideosDone, long VideosFailed, double DecodeSeconds, double EncodeSeconds)
{
    /// <summary>Seconds spent downloading sources (0 for local sources).</summary>
    public double DownloadSeconds { get; init; }

    /// <summary>Seconds spent writing part files to the output store.</summary>
    public double UploadSeconds { get; init; }
}

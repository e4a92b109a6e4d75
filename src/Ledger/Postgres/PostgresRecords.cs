using System.Text.Json.Serialization;

namespace TempMe.Pipeline.Ledger.Postgres;

/// <summary>Job states as stored in <c>jobs.state</c>. They are persisted: never rename one.</summary>
public static class JobStates
{
    /// <summary>Submitted; the source is not yet listed into the ledger.</summary>
    public const string Queued = "queued";

    /// <summary>Listed; shards are being processed.</summary>
    public const string Running = "running";

    /// <summary>Every shard is done; <c>index.json</c> and <c>failures.jsonl</c> are being written (retried until they are).</summary>
    public const string Finalizing = "finalizing";

    /// <summary>Every video has an embedding and the manifests are written.</summary>
    public const string Completed = "completed";

    /// <summary>Every video is settled, some failed for good, and the manifests are written.</summary>
    public const string CompletedWithFailures = "completed_with_failures";

    /// <summary>The job could not run at all (for example its source could not be listed).</summary>
    public const string Failed = "failed";

    /// <summary>Cancelled by a user; no further shard is claimed.</summary>
    public const string Cancelled = "cancelled";

    /// <summary>Whether a job in <paramref name="state"/> will not change any more by itself.</summary>
    public static bool IsTerminal(string state) => state is Completed or CompletedWithFailures or Failed or Cancelled;

    /// <summary>Whether a job in <paramref name="state"/> may still write into its output.</summary>
    public static bool IsActive(string state) => state is Queued or Running or Finalizing;
}

/// <summary>
/// How a job-level step that keeps failing (listing, opening the model or output, writing the manifests) is retried:
/// the n-th failure in a row waits <c>min(MaxDelay, FirstDelay * 2^(n-1))</c>; the <see cref="MaxFailures"/>-th fails the job.
/// </summary>
/// <param name="MaxFailures">Failures in a row that fail the job; <see cref="int.MaxValue"/> never gives up.</param>
/// <param name="FirstDelay">Wait after the first failure.</param>
/// <param name="MaxDelay">Longest wait.</param>
public sealed record JobRetryPolicy(int MaxFailures, TimeSpan FirstDelay, TimeSpan MaxDelay)
{
    /// <summary>The same backoff, never giving up (for writing the manifests: the work is done, only storage is missing).</summary>
    /// <remarks>Not part of the record's wire form: the policy travels to the job grain as JSON, and this property would recurse.</remarks>
    [JsonIgnore]
    public JobRetryPolicy Forever => this with { MaxFailures = int.MaxValue };
}

/// <summary>The answer to a submission that checks the output: the new job's id, or the active job already using that output.</summary>
/// <param name="Id">The new job, when it was created.</param>
/// <param name="ClashingJobId">The active job whose output is the same as, inside or around the requested one.</param>
public sealed record JobCreation(string? Id, string? ClashingJobId);

/// <summary>What became of a job after a recorded failure.</summary>
/// <param name="State">Its state now (<see cref="JobStates.Failed"/> when this failure was the last one allowed).</param>
/// <param name="Failures">Failures in a row so far.</param>
/// <param name="RetryAfter">When it may be tried again.</param>
public sealed record JobFailureOutcome(string State, int Failures, DateTimeOffset? RetryAfter);

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

    /// <summary>When the job entered <see cref="JobStates.Finalizing"/> (null in other states).</summary>
    public DateTimeOffset? FinalizingSince { get; init; }

    /// <summary>Job-level failures in a row (listing, model, output, manifests); 0 after progress.</summary>
    public int ConsecutiveFailures { get; init; }

    /// <summary>No listing, claim or manifest write of the job before this time.</summary>
    public DateTimeOffset? RetryAfter { get; init; }

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

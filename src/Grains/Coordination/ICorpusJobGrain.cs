using Orleans.Concurrency;
using TempMe.Pipeline.Contracts;
using TempMe.Pipeline.Ledger.Postgres;

namespace TempMe.Pipeline.Grains.Coordination;

/// <summary>
/// One indexing job (key: the job id). It owns the job's state machine: it lists the corpus into shards, hands shards
/// to workers, counts failures against the job with backoff, and writes <c>index.json</c> and <c>failures.jsonl</c>
/// when the last shard is done. The job's rows in PostgreSQL are its durable state, so the grain can be reactivated on
/// any coordinator silo after its silo dies; a reminder brings it back and drives the steps that are due.
/// </summary>
[Alias("tempme.ICorpusJobGrain")]
public interface ICorpusJobGrain : IGrainWithStringKey
{
    /// <summary>Registers the job's reminder and starts the step that is due (listing a new job). Idempotent.</summary>
    [Alias("Start")]
    Task StartAsync();

    /// <summary>Runs the step that is due now, if any, without waiting for it (a hint; the reminder is the guarantee).</summary>
    [OneWay]
    [Alias("Kick")]
    Task KickAsync();

    /// <summary>The job's row as workers need it; null when there is no such job.</summary>
    [Alias("GetForWork")]
    Task<JobStatus?> GetForWorkAsync();

    /// <summary>Claims the next shard for a worker running in <paramref name="silo"/> (its parsable SiloAddress); null when none is claimable now.</summary>
    [Alias("ClaimShard")]
    Task<ShardLease?> ClaimShardAsync(string workerId, string silo, TimeSpan lease);

    /// <summary>An embedding already computed for this content under <paramref name="modelKey"/>.</summary>
    [Alias("FindEmbedding")]
    Task<CachedEmbedding?> FindEmbeddingAsync(string modelKey, string contentSha256);

    /// <summary>Records the model a worker loaded (fingerprint, embedding width, sampling key).</summary>
    [Alias("SetModel")]
    Task SetModelAsync(string fingerprint, int embeddingSize, string samplingKey);

    /// <summary>Fails the job at once (every worker would fail the same way).</summary>
    [Alias("Fail")]
    Task FailAsync(string message);

    /// <summary>Counts one more job-level failure in a row (backoff, then failure); null when the job left <paramref name="expectedState"/>.</summary>
    [Alias("RecordFailure")]
    Task<JobFailureOutcome?> RecordFailureAsync(string expectedState, string message, JobRetryPolicy policy);

    /// <summary>Cancels the job; false when it had already ended.</summary>
    [Alias("Cancel")]
    Task<bool> CancelAsync();

    /// <summary>Requeues the job's failed videos; the number requeued.</summary>
    [Alias("RetryFailed")]
    Task<long> RetryFailedAsync();
}

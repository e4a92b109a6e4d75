using TempMe.Pipeline.Contracts;

namespace TempMe.Pipeline.Ledger;

/// <summary>The settings that decide what an index's embeddings mean; one per output.</summary>
/// <param name="ModelSpec">The model as the user named it (folder or <c>random:…</c>).</param>
/// <param name="ModelFingerprint">Hash of the weights and merge schedule.</param>
/// <param name="SamplingKey">The sampling settings' key (<see cref="SamplingSettings.Key"/>).</param>
/// <param name="EmbeddingSize">Width of one embedding.</param>
/// <param name="ShardSize">Videos per shard (and per part file).</param>
public sealed record JobRecord(string ModelSpec, string ModelFingerprint, string SamplingKey, int EmbeddingSize, int ShardSize)
{
    /// <summary>The key of the content-hash embedding cache: the same content under the same key is encoded once.</summary>
    public string ModelKey => $"{ModelFingerprint}/{SamplingKey}";
}

/// <summary>How a new listing compared with the ledger.</summary>
/// <param name="Listed">Videos in the listing.</param>
/// <param name="Added">Videos not seen before.</param>
/// <param name="Changed">Videos whose size or modification time changed (recomputed).</param>
/// <param name="Removed">Videos no longer in the source (left out of the output).</param>
public sealed record ListingSummary(int Listed, int Added, int Changed, int Removed);

/// <summary>Counts of listed videos by state.</summary>
/// <param name="Pending">Still to process.</param>
/// <param name="Done">Embedded.</param>
/// <param name="Failed">Failed for good.</param>
/// <param name="OpenShards">Shards not yet done.</param>
public sealed record LedgerCounts(long Pending, long Done, long Failed, long OpenShards)
{
    /// <summary>All listed videos.</summary>
    public long Total => Pending + Done + Failed;
}

/// <summary>A video that failed for good, as written to <c>failures.jsonl</c>.</summary>
/// <param name="Source">The video's path or address.</param>
/// <param name="ErrorCode">One of <see cref="ErrorCodes"/>.</param>
/// <param name="Message">The last error message.</param>
/// <param name="Attempts">Attempts made.</param>
public sealed record FailureRecord(string Source, string ErrorCode, string Message, int Attempts);

/// <summary>A written part.</summary>
/// <param name="PartNumber">The shard and part number.</param>
/// <param name="Name">Base name without extension, e.g. <c>embeddings/part-00000</c>.</param>
/// <param name="Rows">Embeddings in the part.</param>
public sealed record PartRecord(int PartNumber, string Name, int Rows);

/// <summary>The output folder already holds an index made with another model or other sampling settings.</summary>
public sealed class JobMismatchException : Exception
{
    /// <summary>Creates the exception, naming both settings.</summary>
    public JobMismatchException(JobRecord existing, JobRecord requested)
        : base(Describe(existing, requested))
    {
        Existing = existing;
        Requested = requested;
    }

    /// <summary>What the output was made with.</summary>
    public JobRecord Existing { get; }

    /// <summary>What was asked for now.</summary>
    public JobRecord Requested { get; }

    private static string Describe(JobRecord existing, JobRecord requested)
    {
        var what = existing.ModelFingerprint != requested.ModelFingerprint
            ? $"model {existing.ModelSpec} (fingerprint {existing.ModelFingerprint[..Math.Min(12, existing.ModelFingerprint.Length)]})"
            : $"sampling {existing.SamplingKey}";
        var now = existing.ModelFingerprint != requested.ModelFingerprint
            ? $"model {requested.ModelSpec} (fingerprint {requested.ModelFingerprint[..Math.Min(12, requested.ModelFingerprint.Length)]})"
            : $"sampling {requested.SamplingKey}";
        return $"the output folder already holds an index made with {what}, but this run asks for {now}. " +
               "Use a new --out folder for the new settings, or run again with the original settings to continue that index.";
    }
}

using TempMe.Pipeline.Contracts;
using TempMe.Pipeline.Ledger;
using TempMe.Pipeline.Ledger.Postgres;
using TempMe.Pipeline.Indexing.Output;
using TempMe.Pipeline.Storage;

namespace TempMe.Pipeline.Grains.Coordination;

/// <summary>Writes a distributed job's <c>index.json</c> and <c>failures.jsonl</c>, in the same layout as <c>tempme index</c>.</summary>
public static class JobManifest
{
    /// <summary>Writes both manifests of <paramref name="job"/> from its parts and failures in the ledger.</summary>
    public static async Task WriteAsync(PostgresLedger ledger, JobStatus job, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(ledger);
        ArgumentNullException.ThrowIfNull(job);
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
}

using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using TempMe.Pipeline.Contracts;
using TempMe.Pipeline.Ledger;

namespace TempMe.Pipeline.Indexing.Output;

/// <summary>
/// <c>index.json</c>: what the embeddings mean (model fingerprint, sampling) and where they are (parts).
/// It holds no timings or dates, so an interrupted-then-resumed run writes the same file as an uninterrupted one.
/// </summary>
public sealed record IndexManifest
{
    /// <summary>Format identifier; bumped on incompatible layout changes.</summary>
    [JsonPropertyName("format")]
    public string Format { get; init; } = "tempme-index/1";

    /// <summary>The model and its fingerprint.</summary>
    [JsonPropertyName("model")]
    public required ManifestModel Model { get; init; }

    /// <summary>How frames were sampled.</summary>
    [JsonPropertyName("sampling")]
    public required ManifestSampling Sampling { get; init; }

    /// <summary>Width of each embedding row.</summary>
    [JsonPropertyName("embedding_size")]
    public required int EmbeddingSize { get; init; }

    /// <summary>Video counts.</summary>
    [JsonPropertyName("counts")]
    public required ManifestCounts Counts { get; init; }

    /// <summary>The part files, in order.</summary>
    [JsonPropertyName("parts")]
    public required IReadOnlyList<ManifestPart> Parts { get; init; }

    /// <summary>Writes <c>index.json</c> and <c>failures.jsonl</c> atomically to <paramref name="store"/>.</summary>
    public static async Task WriteAsync(IBlobStore store, IndexManifest manifest, IReadOnlyList<FailureRecord> failures, CancellationToken cancellationToken)
    {
        var lines = new StringBuilder();
        foreach (var failure in failures)
        {
            lines.Append(JsonSerializer.Serialize(new FailureRow { Source = failure.Source, ErrorCode = failure.ErrorCode, Message = failure.Message, Attempts = failure.Attempts }, OutputJson.Options)).Append('\n');
        }

        using (var failuresStream = new MemoryStream(Encoding.UTF8.GetBytes(lines.ToString())))
        {
            await store.WriteAsync(OutputLayout.FailuresFile, failuresStream, cancellationToken);
        }

        // The model may be a blob address with a SAS: readers of the output get it without the signature.
        var shown = manifest with { Model = manifest.Model with { Spec = AddressSecrets.Redact(manifest.Model.Spec) } };
        using var index = new MemoryStream(JsonSerializer.SerializeToUtf8Bytes(shown, OutputJson.Indented));
        await store.WriteAsync(OutputLayout.IndexFile, index, cancellationToken);
    }
}

/// <summary>The model section of <c>index.json</c>.</summary>
/// <param name="Spec">The model as named by the user.</param>
/// <param name="Fingerprint">Hash of the weights and merge schedule.</param>
public sealed record ManifestModel([property: JsonPropertyName("spec")] string Spec, [property: JsonPropertyName("fingerprint")] string Fingerprint);

/// <summary>The sampling section of <c>index.json</c>.</summary>
/// <param name="Frames">Frames per video.</param>
/// <param name="ImageSize">Crop side.</param>
/// <param name="FramesPerSecond">Candidate frame rate before uniform subsampling.</param>
/// <param name="Key">The settings' key.</param>
public sealed record ManifestSampling(
    [property: JsonPropertyName("frames")] int Frames,
    [property: JsonPropertyName("image_size")] int ImageSize,
    [property: JsonPropertyName("fps")] double FramesPerSecond,
    [property: JsonPropertyName("key")] string Key);

/// <summary>The counts section of <c>index.json</c>.</summary>
/// <param name="Videos">Listed videos.</param>
/// <param name="Indexed">Videos with an embedding.</param>
/// <param name="Failed">Videos that failed for good.</param>
/// <param name="Pending">Videos still to do (non-zero only for an interrupted run).</param>
public sealed record ManifestCounts(
    [property: JsonPropertyName("videos")] long Videos,
    [property: JsonPropertyName("indexed")] long Indexed,
    [property: JsonPropertyName("failed")] long Failed,
    [property: JsonPropertyName("pending")] long Pending);

/// <summary>One part in <c>index.json</c>.</summary>
/// <param name="Embeddings">The <c>.npy</c> file, relative to the output root.</param>
/// <param name="Metadata">The <c>.jsonl</c> file.</param>
/// <param name="Rows">Rows in the part.</param>
public sealed record ManifestPart(
    [property: JsonPropertyName("embeddings")] string Embeddings,
    [property: JsonPropertyName("metadata")] string Metadata,
    [property: JsonPropertyName("rows")] int Rows);

using TempMe.Pipeline.Encoder;
using TempMe.Pipeline.Indexing.Output;

namespace TempMe.Pipeline.Search;

/// <summary>Loads the query encoder for an index: the model <c>index.json</c> names (or an override), refused unless its fingerprint is the index's.</summary>
public static class SearchModel
{
    /// <summary>
    /// Loads the model for <paramref name="manifest"/>. <paramref name="modelOverride"/> replaces the recorded spec
    /// (needed when that path is not on this machine). Throws <see cref="SearchIndexException"/> for a missing or different model.
    /// </summary>
    public static QueryEncoder Load(IndexManifest manifest, string? modelOverride, string? vocabulary, QueryModelSettings? settings, TextWriter? notices)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        var recorded = manifest.Model.Spec;
        var spec = modelOverride ?? recorded;
        if (modelOverride is null && !recorded.StartsWith(EncoderFactory.RandomPrefix, StringComparison.OrdinalIgnoreCase) && !File.Exists(recorded) && !Directory.Exists(recorded))
        {
            throw new SearchIndexException($"The index's model {recorded} is not on this machine; pass --model with a copy of it (its fingerprint must be {manifest.Model.Fingerprint}).");
        }

        QueryEncoder encoder;
        try
        {
            encoder = QueryEncoder.Load(spec, manifest.Sampling.Frames, vocabulary, settings, notices);
        }
        catch (ModelLoadException e)
        {
            throw new SearchIndexException($"model {spec}: {e.Message}", e);
        }

        if (encoder.Fingerprint != manifest.Model.Fingerprint)
        {
            throw new SearchIndexException(
                $"model {spec} has fingerprint {encoder.Fingerprint} but the index was made with {manifest.Model.Fingerprint} ({recorded}): " +
                "its embeddings would not be comparable; pass --model with the index's model (and the same settings it was indexed with).");
        }

        if (encoder.EmbeddingSize != manifest.EmbeddingSize)
        {
            throw new SearchIndexException($"model {spec} embeds to {encoder.EmbeddingSize} values but the index holds {manifest.EmbeddingSize}.");
        }

        return encoder;
    }
}

using TempMe.Pipeline.Encoder;
using TempMe.Pipeline.Search;

namespace TempMe.Pipeline.Dashboard.Search;

/// <summary>An index opened for search with its query model, kept while the index does not change.</summary>
/// <param name="Index">The mapped index, counted so that a replaced version is unmapped only after its last search.</param>
/// <param name="Encoder">The query model (fingerprint checked).</param>
/// <param name="Version">What identifies the index's version (index.json's ETag or modification time).</param>
internal sealed record OpenedSearch(SharedSearchIndex Index, QueryEncoder Encoder, string Version);

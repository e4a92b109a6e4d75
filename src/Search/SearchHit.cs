using TempMe.Pipeline.Indexing.Output;

namespace TempMe.Pipeline.Search;

/// <summary>A search result: the rank, the score and the row's metadata from the part's <c>.jsonl</c>.</summary>
/// <param name="Rank">1 for the best.</param>
/// <param name="Score">Dot product with the query.</param>
/// <param name="Metadata">Source, content hash, duration and sampled timestamps.</param>
public sealed record SearchHit(int Rank, float Score, PartRow Metadata);

using System.Text.Json.Serialization;

namespace TempMe.Pipeline.Pipeline.Search;

/// <summary>
/// A search result as users see it: one line of <c>tempme search --json</c> and one element of
/// <c>GET /api/jobs/{id}/search</c>, so both answer in the same shape.
/// </summary>
public sealed record SearchResult
{
    /// <summary>1 for the best.</summary>
    [JsonPropertyName("rank")]
    public required int Rank { get; init; }

    /// <summary>Dot product with the query.</summary>
    [JsonPropertyName("score")]
    public required float Score { get; init; }

    /// <summary>The video, as the caller may show it (the silo passes addresses without their SAS).</summary>
    [JsonPropertyName("source")]
    public required string Source { get; init; }

    /// <summary>SHA-256 of its bytes.</summary>
    [JsonPropertyName("content_sha256")]
    public required string ContentSha256 { get; init; }

    /// <summary>Sampled frame times.</summary>
    [JsonPropertyName("timestamps_s")]
    public required IReadOnlyList<double> TimestampsSeconds { get; init; }

    /// <summary>The result for <paramref name="hit"/>, showing its source as <paramref name="source"/>.</summary>
    public static SearchResult From(SearchHit hit, string source) => new()
    {
        Rank = hit.Rank,
        Score = hit.Score,
        Source = source,
        ContentSha256 = hit.Metadata.ContentSha256,
        TimestampsSeconds = hit.Metadata.TimestampsSeconds,
    };
}

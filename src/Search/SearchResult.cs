using System.Text.Json.Serialization;
using TempMe.Pipeline.Indexing.Thumbnails;

namespace TempMe.Pipeline.Search;

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

    /// <summary>
    /// Store name of the video's thumbnail (<c>thumbnails/ab/SHA.jpg</c>, a JPEG of one sampled frame), or null when
    /// the index has none for it. Always written, null included, in every host's JSON.
    /// </summary>
    [JsonPropertyName("thumbnail")]
    [JsonIgnore(Condition = JsonIgnoreCondition.Never)]
    public string? Thumbnail { get; init; }

    /// <summary>The result for <paramref name="hit"/>, showing its source as <paramref name="source"/>.</summary>
    public static SearchResult From(SearchHit hit, string source) => new()
    {
        Rank = hit.Rank,
        Score = hit.Score,
        Source = source,
        ContentSha256 = hit.Metadata.ContentSha256,
        TimestampsSeconds = hit.Metadata.TimestampsSeconds,

        // Only the content-addressed name of this row's own hash: a crafted metadata line cannot point elsewhere.
        Thumbnail = ThumbnailNames.IsNameOf(hit.Metadata.Thumbnail, hit.Metadata.ContentSha256) ? hit.Metadata.Thumbnail : null,
    };
}

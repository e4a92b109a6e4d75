using System.Text.Json.Serialization;

namespace TempMe.Pipeline.Silo.Search;

/// <summary>One result of <c>GET /api/jobs/{id}/search</c>.</summary>
internal sealed record SearchAnswer
{
    /// <summary>1 for the best.</summary>
    [JsonPropertyName("rank")]
    public required int Rank { get; init; }

    /// <summary>Dot product with the query.</summary>
    [JsonPropertyName("score")]
    public required float Score { get; init; }

    /// <summary>The video (addresses without their SAS).</summary>
    [JsonPropertyName("source")]
    public required string Source { get; init; }

    /// <summary>SHA-256 of its bytes.</summary>
    [JsonPropertyName("content_sha256")]
    public required string ContentSha256 { get; init; }

    /// <summary>Sampled frame times.</summary>
    [JsonPropertyName("timestamps_s")]
    public required IReadOnlyList<double> TimestampsSeconds { get; init; }
}

using System.Text.Json.Serialization;

namespace TempMe.Pipeline.Indexing.Output;

/// <summary>One line of <c>part-NNNNN.jsonl</c>: the metadata of the embedding in the same row of the <c>.npy</c>.</summary>
public sealed record PartRow
{
    /// <summary>Row in the part's matrix.</summary>
    [JsonPropertyName("row")]
    public required int Row { get; init; }

    /// <summary>The video's path or address.</summary>
    [JsonPropertyName("source")]
    public required string Source { get; init; }

    /// <summary>SHA-256 of the video's bytes.</summary>
    [JsonPropertyName("content_sha256")]
    public required string ContentSha256 { get; init; }

    /// <summary>Duration in seconds, when known.</summary>
    [JsonPropertyName("duration_s")]
    public double? DurationSeconds { get; init; }

    /// <summary>Times of the sampled frames.</summary>
    [JsonPropertyName("timestamps_s")]
    public required IReadOnlyList<double> TimestampsSeconds { get; init; }

    /// <summary>
    /// Store name of the video's thumbnail (<c>thumbnails/ab/SHA.jpg</c>), written before this row; absent when none
    /// (it could not be made, or the index predates thumbnails).
    /// </summary>
    [JsonPropertyName("thumbnail")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Thumbnail { get; init; }
}

/// <summary>One line of <c>failures.jsonl</c>.</summary>
public sealed record FailureRow
{
    /// <summary>The video's path or address.</summary>
    [JsonPropertyName("source")]
    public required string Source { get; init; }

    /// <summary>Stable error code.</summary>
    [JsonPropertyName("error_code")]
    public required string ErrorCode { get; init; }

    /// <summary>Human-readable message.</summary>
    [JsonPropertyName("message")]
    public required string Message { get; init; }

    /// <summary>Attempts made.</summary>
    [JsonPropertyName("attempts")]
    public required int Attempts { get; init; }
}

using TempMe.Pipeline.Contracts;

namespace TempMe.Pipeline.Grains.Coordination;

// The records that carry embeddings between worker and coordinator silos (a shard's results hold 512 floats per
// video) go in Orleans' binary format through these surrogates: as JSON the floats cost more CPU than the database.
// Ids are the wire format: never renumber one; add new fields with new ids.

/// <summary>Wire form of <see cref="CachedEmbedding"/>.</summary>
[GenerateSerializer]
[Alias("tempme.CachedEmbedding")]
internal readonly record struct CachedEmbeddingSurrogate(
    [property: Id(0)] float[] Vector,
    [property: Id(1)] double? DurationSeconds,
    [property: Id(2)] double[] TimestampsSeconds);

/// <summary>Converts <see cref="CachedEmbedding"/> to and from its wire form.</summary>
[RegisterConverter]
internal sealed class CachedEmbeddingConverter : IConverter<CachedEmbedding, CachedEmbeddingSurrogate>
{
    /// <inheritdoc />
    public CachedEmbedding ConvertFromSurrogate(in CachedEmbeddingSurrogate surrogate) =>
        new(surrogate.Vector, surrogate.DurationSeconds, surrogate.TimestampsSeconds);

    /// <inheritdoc />
    public CachedEmbeddingSurrogate ConvertToSurrogate(in CachedEmbedding value) =>
        new(value.Vector, value.DurationSeconds, [.. value.TimestampsSeconds]);
}

/// <summary>Wire form of <see cref="VideoResult"/>.</summary>
[GenerateSerializer]
[Alias("tempme.VideoResult")]
internal readonly record struct VideoResultSurrogate(
    [property: Id(0)] long VideoId,
    [property: Id(1)] string Source,
    [property: Id(2)] string? ContentSha256,
    [property: Id(3)] CachedEmbedding? Embedding,
    [property: Id(4)] string? ErrorCode,
    [property: Id(5)] string? Message,
    [property: Id(6)] double DecodeSeconds,
    [property: Id(7)] double EncodeSeconds,
    [property: Id(8)] bool Reused,
    [property: Id(9)] bool Attempted,
    [property: Id(10)] string? Thumbnail);

/// <summary>Converts <see cref="VideoResult"/> to and from its wire form.</summary>
[RegisterConverter]
internal sealed class VideoResultConverter : IConverter<VideoResult, VideoResultSurrogate>
{
    /// <inheritdoc />
    public VideoResult ConvertFromSurrogate(in VideoResultSurrogate s) => new()
    {
        VideoId = s.VideoId,
        Source = s.Source,
        ContentSha256 = s.ContentSha256,
        Embedding = s.Embedding,
        ErrorCode = s.ErrorCode,
        Message = s.Message,
        DecodeSeconds = s.DecodeSeconds,
        EncodeSeconds = s.EncodeSeconds,
        Reused = s.Reused,
        Attempted = s.Attempted,
        Thumbnail = s.Thumbnail,
    };

    /// <inheritdoc />
    public VideoResultSurrogate ConvertToSurrogate(in VideoResult v) =>
        new(v.VideoId, v.Source, v.ContentSha256, v.Embedding, v.ErrorCode, v.Message, v.DecodeSeconds, v.EncodeSeconds, v.Reused, v.Attempted, v.Thumbnail);
}

/// <summary>Wire form of <see cref="ShardVideo"/>.</summary>
[GenerateSerializer]
[Alias("tempme.ShardVideo")]
internal readonly record struct ShardVideoSurrogate(
    [property: Id(0)] long VideoId,
    [property: Id(1)] string Source,
    [property: Id(2)] long Size,
    [property: Id(3)] int Attempts,
    [property: Id(4)] VideoState State,
    [property: Id(5)] string? ContentSha256,
    [property: Id(6)] string? ErrorCode,
    [property: Id(7)] string? ErrorMessage);

/// <summary>Converts <see cref="ShardVideo"/> to and from its wire form.</summary>
[RegisterConverter]
internal sealed class ShardVideoConverter : IConverter<ShardVideo, ShardVideoSurrogate>
{
    /// <inheritdoc />
    public ShardVideo ConvertFromSurrogate(in ShardVideoSurrogate s) => new(s.VideoId, s.Source, s.Size, s.Attempts, s.State, s.ContentSha256, s.ErrorCode, s.ErrorMessage);

    /// <inheritdoc />
    public ShardVideoSurrogate ConvertToSurrogate(in ShardVideo v) => new(v.VideoId, v.Source, v.Size, v.Attempts, v.State, v.ContentSha256, v.ErrorCode, v.ErrorMessage);
}

/// <summary>Wire form of <see cref="ShardLease"/>.</summary>
[GenerateSerializer]
[Alias("tempme.ShardLease")]
internal readonly record struct ShardLeaseSurrogate(
    [property: Id(0)] string JobId,
    [property: Id(1)] long ShardId,
    [property: Id(2)] int PartNumber,
    [property: Id(3)] ShardVideo[] Videos,
    [property: Id(4)] Guid LeaseToken,
    [property: Id(5)] DateTimeOffset ExpiresUtc);

/// <summary>Converts <see cref="ShardLease"/> to and from its wire form.</summary>
[RegisterConverter]
internal sealed class ShardLeaseConverter : IConverter<ShardLease, ShardLeaseSurrogate>
{
    /// <inheritdoc />
    public ShardLease ConvertFromSurrogate(in ShardLeaseSurrogate s) => new(s.JobId, s.ShardId, s.PartNumber, s.Videos, s.LeaseToken, s.ExpiresUtc);

    /// <inheritdoc />
    public ShardLeaseSurrogate ConvertToSurrogate(in ShardLease v) => new(v.JobId, v.ShardId, v.PartNumber, [.. v.Videos], v.LeaseToken, v.ExpiresUtc);
}

/// <summary>Wire form of <see cref="ShardCompletion"/>.</summary>
[GenerateSerializer]
[Alias("tempme.ShardCompletion")]
internal readonly record struct ShardCompletionSurrogate(
    [property: Id(0)] string? PartName,
    [property: Id(1)] VideoResult[] Results,
    [property: Id(2)] int MaxAttempts);

/// <summary>Converts <see cref="ShardCompletion"/> to and from its wire form.</summary>
[RegisterConverter]
internal sealed class ShardCompletionConverter : IConverter<ShardCompletion, ShardCompletionSurrogate>
{
    /// <inheritdoc />
    public ShardCompletion ConvertFromSurrogate(in ShardCompletionSurrogate s) => new(s.PartName, s.Results, s.MaxAttempts);

    /// <inheritdoc />
    public ShardCompletionSurrogate ConvertToSurrogate(in ShardCompletion v) => new(v.PartName, [.. v.Results], v.MaxAttempts);
}

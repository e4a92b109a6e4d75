using Microsoft.Extensions.DependencyInjection;
using Orleans.Serialization;
using TempMe.Pipeline.Contracts;
using TempMe.Pipeline.Grains.Cluster;

namespace TempMe.Pipeline.Grains.Tests;

/// <summary>The records workers and coordinators exchange survive Orleans' serializer as the silos configure it.</summary>
public sealed class MessageSerializationTests
{
    private static readonly Serializer Serializer = new ServiceCollection()
        .AddSerializer(TempMeSiloRoles.AddTempMeMessageCodecs)
        .BuildServiceProvider()
        .GetRequiredService<Serializer>();

    [Fact]
    public void A_video_result_with_its_embedding_round_trips_in_binary_form()
    {
        var vector = Enumerable.Range(0, 512).Select(i => MathF.Sin(i) / 22.6f).ToArray();
        var result = new VideoResult
        {
            VideoId = 42,
            Source = "az://videos/in/a.mp4",
            ContentSha256 = new string('a', 64),
            Embedding = new CachedEmbedding(vector, 3.5, [0.25, 1.25, 2.25]),
            DecodeSeconds = 0.5,
            EncodeSeconds = 0.125,
            Reused = true,
            Attempted = false,
            Thumbnail = "thumbnails/aa/" + new string('a', 64) + ".jpg",
        };

        var bytes = Serializer.SerializeToArray(result);
        var back = Serializer.Deserialize<VideoResult>(bytes)!;

        Assert.Equal(vector, back.Embedding!.Vector);
        Assert.Equal([0.25, 1.25, 2.25], back.Embedding.TimestampsSeconds);
        Assert.Equal(result with { Embedding = back.Embedding }, back);
        // 512 floats in binary are 2 KiB (plus the strings); as JSON text they would be 6 KiB or more.
        Assert.InRange(bytes.Length, 512 * sizeof(float), 512 * sizeof(float) + 1000);
    }

    [Fact]
    public void A_shard_lease_and_a_completion_round_trip()
    {
        var lease = new ShardLease("job-1", 7, 7, [new ShardVideo(1, "a.mp4", 10, 1), new ShardVideo(2, "b.mp4", 20, 2, VideoState.Failed, "ff", "corrupt", "bad")], Guid.NewGuid(), DateTimeOffset.UnixEpoch.AddDays(20000));
        var completion = new ShardCompletion("embeddings/part-00007", [new VideoResult { VideoId = 1, Source = "a.mp4", ErrorCode = "timeout", Message = "slow" }], 3);

        var leaseBack = Serializer.Deserialize<ShardLease>(Serializer.SerializeToArray(lease))!;
        var completionBack = Serializer.Deserialize<ShardCompletion>(Serializer.SerializeToArray(completion))!;

        Assert.Equal(lease.Videos, leaseBack.Videos);
        Assert.Equal(lease with { Videos = leaseBack.Videos }, leaseBack);
        Assert.Equal(completion.Results, completionBack.Results);
        Assert.Equal(completion.PartName, completionBack.PartName);
        Assert.Equal(completion.MaxAttempts, completionBack.MaxAttempts);
    }

    [Fact]
    public void A_job_retry_policy_round_trips_as_json_without_recursing_into_its_forever_variant()
    {
        var policy = new Ledger.Postgres.JobRetryPolicy(6, TimeSpan.FromSeconds(2), TimeSpan.FromMinutes(2));

        var back = Serializer.Deserialize<Ledger.Postgres.JobRetryPolicy>(Serializer.SerializeToArray(policy));

        Assert.Equal(policy, back);
    }
}

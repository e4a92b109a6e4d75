using TempMe.Pipeline.Contracts;
using TempMe.Pipeline.Ledger;

namespace TempMe.Pipeline.Testing.Ledger;

/// <summary>
/// What every <see cref="IShardLedger"/> promises the shard pipeline, written once. A small subclass per backend
/// (SQLite, PostgreSQL, the in-memory fake the pipeline tests use) says how to make a ledger holding one job and how to
/// let lease time pass; every fact below then runs against that backend. Where the backends really differ, the
/// difference is a property of the subclass and the fact asserts each side of it.
/// Linked only into the test projects that have a ledger to test.
/// </summary>
public abstract class ShardLedgerContract : IAsyncLifetime
{
    /// <summary>The lease the facts claim with, long enough that only <see cref="PassTimeAsync"/> ends it.</summary>
    protected static readonly TimeSpan Lease = TimeSpan.FromMinutes(5);

    private const int MaxAttempts = 3;

    /// <summary>A ledger holding one job whose listing is cut, in source order, into shards of <paramref name="shardSize"/>.</summary>
    protected abstract Task<IShardLedger> CreateLedgerAsync(IReadOnlyList<SourceVideo> listing, int shardSize);

    /// <summary>Lets <paramref name="span"/> of lease time pass for the ledger made last.</summary>
    protected abstract Task PassTimeAsync(TimeSpan span);

    /// <summary>The videos of the last ledger's job that failed for good, by source.</summary>
    protected abstract Task<IReadOnlyList<FailureRecord>> FinalFailuresAsync();

    /// <summary>
    /// Whether claiming a shard whose lease ran out charges each of its pending videos one attempt. The distributed
    /// ledger does (a video that kills workers must end up quarantined); the single-machine one does not (a lease only
    /// runs out there when the one process died, and Ctrl-C or a crash of this machine is not the video's fault).
    /// </summary>
    protected abstract bool ChargesAttemptOnExpiredLease { get; }

    /// <inheritdoc />
    public virtual Task InitializeAsync() => Task.CompletedTask;

    /// <inheritdoc />
    public virtual Task DisposeAsync() => Task.CompletedTask;

    /// <summary>A listing entry under <c>/v/</c>.</summary>
    protected static SourceVideo Video(string name) => new($"/v/{name}", 10, new DateTimeOffset(2025, 1, 1, 0, 0, 0, TimeSpan.Zero));

    private static VideoResult Success(ShardVideo video, string sha, float first = 1) => new()
    {
        VideoId = video.VideoId, Source = video.Source, ContentSha256 = sha,
        Embedding = new CachedEmbedding([first, 0, 0, 0], 2.5, [0.5, 1.5]),
    };

    private static VideoResult Failure(ShardVideo video, string code) => new()
    {
        VideoId = video.VideoId, Source = video.Source, ErrorCode = code, Message = $"{code} on purpose",
    };

    private static ShardCompletion Completion(ShardLease lease, params VideoResult[] results) =>
        new(results.Any(r => r.Succeeded) ? $"embeddings/part-{lease.PartNumber:D5}" : null, results, MaxAttempts);

    private static string Sha(char c) => new(c, 64);

    [Fact]
    public async Task Claims_hand_out_each_shard_once_in_part_order_with_its_videos_in_source_order()
    {
        var ledger = await CreateLedgerAsync([Video("c"), Video("a"), Video("e"), Video("b"), Video("d")], shardSize: 2);
        var first = await ledger.ClaimShardAsync("w1", Lease, default);
        var second = await ledger.ClaimShardAsync("w2", Lease, default);
        var third = await ledger.ClaimShardAsync("w1", Lease, default);

        Assert.Equal([0, 1, 2], new[] { first!.PartNumber, second!.PartNumber, third!.PartNumber });
        Assert.Equal(["/v/a", "/v/b"], first.Videos.Select(v => v.Source));
        Assert.Equal(["/v/c", "/v/d"], second.Videos.Select(v => v.Source));
        Assert.Equal(["/v/e"], third.Videos.Select(v => v.Source));
        Assert.All(first.Videos.Concat(second.Videos).Concat(third.Videos), v => Assert.Equal((0, VideoState.Pending), (v.Attempts, v.State)));
        Assert.Equal(3, new[] { first.LeaseToken, second.LeaseToken, third.LeaseToken }.Distinct().Count());
        Assert.Null(await ledger.ClaimShardAsync("w2", Lease, default));
    }

    [Fact]
    public async Task Concurrent_claims_never_hand_out_one_shard_twice()
    {
        var ledger = await CreateLedgerAsync(Enumerable.Range(0, 8).Select(i => Video($"{i:D2}")).ToList(), shardSize: 1);
        var claims = await Task.WhenAll(Enumerable.Range(0, 16).Select(i => Task.Run(() => ledger.ClaimShardAsync($"w{i}", Lease, default))));

        var taken = claims.Where(c => c is not null).Select(c => c!.ShardId).ToList();
        Assert.Equal(8, taken.Count);
        Assert.Equal(8, taken.Distinct().Count());
        Assert.Null(await ledger.ClaimShardAsync("late", Lease, default));
    }

    [Fact]
    public async Task A_held_lease_is_claimed_again_only_after_it_runs_out()
    {
        var ledger = await CreateLedgerAsync([Video("a")], shardSize: 2);
        var held = await ledger.ClaimShardAsync("w1", Lease, default);
        Assert.NotNull(held);

        await PassTimeAsync(Lease - TimeSpan.FromMinutes(1));
        Assert.Null(await ledger.ClaimShardAsync("w2", Lease, default));

        await PassTimeAsync(TimeSpan.FromMinutes(2));
        var taken = await ledger.ClaimShardAsync("w2", Lease, default);
        Assert.NotNull(taken);
        Assert.Equal(held.ShardId, taken.ShardId);
        Assert.NotEqual(held.LeaseToken, taken.LeaseToken);
        Assert.True(taken.ExpiresUtc > held.ExpiresUtc, "the new lease runs from the new claim");

        // The backends differ here on purpose (see ChargesAttemptOnExpiredLease).
        var video = Assert.Single(taken.Videos);
        Assert.Equal(ChargesAttemptOnExpiredLease ? 1 : 0, video.Attempts);
        Assert.Equal(VideoState.Pending, video.State);
    }

    [Fact]
    public async Task Renewing_extends_the_lease_from_the_time_of_renewal()
    {
        var ledger = await CreateLedgerAsync([Video("a")], shardSize: 1);
        var held = await ledger.ClaimShardAsync("w1", Lease, default);

        await PassTimeAsync(TimeSpan.FromMinutes(4));
        Assert.True(await ledger.RenewLeaseAsync(held!, "w1", Lease, default));
        await PassTimeAsync(TimeSpan.FromMinutes(4));
        Assert.Null(await ledger.ClaimShardAsync("w2", Lease, default)); // 8 minutes after the claim, 4 after the renewal

        await PassTimeAsync(TimeSpan.FromMinutes(2));
        Assert.NotNull(await ledger.ClaimShardAsync("w2", Lease, default));
    }

    [Fact]
    public async Task A_lost_lease_can_neither_renew_nor_complete_nor_release_the_shard()
    {
        var ledger = await CreateLedgerAsync([Video("a")], shardSize: 1);
        var lost = await ledger.ClaimShardAsync("w1", Lease, default);
        await PassTimeAsync(Lease + TimeSpan.FromMinutes(1));
        var taken = await ledger.ClaimShardAsync("w2", Lease, default);
        Assert.NotNull(taken);

        Assert.False(await ledger.RenewLeaseAsync(lost!, "w1", Lease, default));
        Assert.False(await ledger.CompleteShardAsync(lost!, Completion(lost!, Success(lost!.Videos[0], Sha('a'))), default));
        await ledger.ReleaseShardAsync(lost, default);

        // The stale holder changed nothing: the new holder still holds the shard and nobody else can claim it.
        Assert.Null(await ledger.ClaimShardAsync("w3", Lease, default));
        Assert.True(await ledger.RenewLeaseAsync(taken, "w2", Lease, default));
        Assert.True(await ledger.CompleteShardAsync(taken, Completion(taken, Success(taken.Videos[0], Sha('a'))), default));
    }

    [Fact]
    public async Task Completing_ends_the_lease_and_the_shard()
    {
        var ledger = await CreateLedgerAsync([Video("a"), Video("b")], shardSize: 2);
        var lease = await ledger.ClaimShardAsync("w1", Lease, default);
        var completion = Completion(lease!, Success(lease!.Videos[0], Sha('a')), Success(lease.Videos[1], Sha('b')));

        Assert.True(await ledger.CompleteShardAsync(lease, completion, default));
        Assert.False(await ledger.CompleteShardAsync(lease, completion, default));
        Assert.False(await ledger.RenewLeaseAsync(lease, "w1", Lease, default));
        await PassTimeAsync(Lease + TimeSpan.FromMinutes(1));
        Assert.Null(await ledger.ClaimShardAsync("w2", Lease, default));
        Assert.Empty(await FinalFailuresAsync());
    }

    [Fact]
    public async Task Release_hands_the_shard_to_another_worker_at_once_without_charging_an_attempt()
    {
        var ledger = await CreateLedgerAsync([Video("a"), Video("b")], shardSize: 2);
        var first = await ledger.ClaimShardAsync("w1", Lease, default);
        await ledger.ReleaseShardAsync(first!, default);

        var second = await ledger.ClaimShardAsync("w2", Lease, default);
        Assert.NotNull(second);
        Assert.Equal(first!.ShardId, second.ShardId);
        Assert.NotEqual(first.LeaseToken, second.LeaseToken);
        Assert.All(second.Videos, v => Assert.Equal((0, VideoState.Pending), (v.Attempts, v.State)));
        Assert.False(await ledger.RenewLeaseAsync(first, "w1", Lease, default));
    }

    [Fact]
    public async Task A_recorded_embedding_is_found_by_content_hash()
    {
        var ledger = await CreateLedgerAsync([Video("a")], shardSize: 1);
        var lease = await ledger.ClaimShardAsync("w1", Lease, default);
        Assert.Null(await ledger.FindEmbeddingAsync(lease!.JobId, Sha('a'), default));

        await ledger.RecordVideoResultsAsync(lease, [Success(lease.Videos[0], Sha('a'), first: 0.25f)], default);

        var found = await ledger.FindEmbeddingAsync(lease.JobId, Sha('a'), default);
        Assert.NotNull(found);
        Assert.Equal(new float[] { 0.25f, 0, 0, 0 }, found.Vector);
        Assert.Equal(2.5, found.DurationSeconds);
        Assert.Equal([0.5, 1.5], found.TimestampsSeconds);
        Assert.Null(await ledger.FindEmbeddingAsync(lease.JobId, Sha('b'), default));
    }

    [Fact]
    public async Task Results_recorded_twice_count_once_and_keep_the_first_embedding()
    {
        var ledger = await CreateLedgerAsync([Video("a"), Video("b")], shardSize: 2);
        var lease = await ledger.ClaimShardAsync("w1", Lease, default);
        var result = Success(lease!.Videos[0], Sha('a'), first: 0.5f);

        // A retried call (the first answer was lost) and a second copy of the same content recorded later.
        await ledger.RecordVideoResultsAsync(lease, [result], default);
        await ledger.RecordVideoResultsAsync(lease, [result], default);
        await ledger.RecordVideoResultsAsync(lease, [Success(lease.Videos[1], Sha('a'), first: 0.75f)], default);

        Assert.Equal(new float[] { 0.5f, 0, 0, 0 }, (await ledger.FindEmbeddingAsync(lease.JobId, Sha('a'), default))!.Vector);
        await ledger.ReleaseShardAsync(lease, default);
        var again = await ledger.ClaimShardAsync("w2", Lease, default);
        Assert.Equal((VideoState.Done, 1, Sha('a')), (again!.Videos[0].State, again.Videos[0].Attempts, again.Videos[0].ContentSha256));
        Assert.Equal((VideoState.Done, 1), (again.Videos[1].State, again.Videos[1].Attempts));
    }

    [Fact]
    public async Task A_retryable_failure_requeues_the_shard_until_max_attempts_then_is_final()
    {
        var ledger = await CreateLedgerAsync([Video("a"), Video("b")], shardSize: 2);
        for (var attempt = 1; attempt <= MaxAttempts; attempt++)
        {
            var lease = await ledger.ClaimShardAsync("w1", Lease, default);
            Assert.NotNull(lease);
            var (a, b) = (lease.Videos[0], lease.Videos[1]);
            Assert.Equal((VideoState.Pending, attempt - 1), (b.State, b.Attempts));
            if (attempt == 1)
            {
                Assert.Equal(VideoState.Pending, a.State);
                Assert.True(await ledger.CompleteShardAsync(lease, Completion(lease, Success(a, Sha('a')), Failure(b, ErrorCodes.EncodeFailed)), default));
                continue;
            }

            // The video that succeeded stays done and is not charged again; the pipeline hands back its earlier result.
            Assert.Equal((VideoState.Done, 1), (a.State, a.Attempts));
            Assert.Equal(ErrorCodes.EncodeFailed, b.ErrorCode);
            var settled = Success(a, Sha('a')) with { Attempted = false, Reused = true };
            Assert.True(await ledger.CompleteShardAsync(lease, Completion(lease, settled, Failure(b, ErrorCodes.EncodeFailed)), default));
        }

        Assert.Null(await ledger.ClaimShardAsync("w1", Lease, default));
        Assert.Equal([new FailureRecord("/v/b", ErrorCodes.EncodeFailed, "encode_failed on purpose", MaxAttempts)], await FinalFailuresAsync());
    }

    [Fact]
    public async Task A_failure_that_cannot_succeed_on_retry_is_final_at_once()
    {
        var ledger = await CreateLedgerAsync([Video("a")], shardSize: 1);
        var lease = await ledger.ClaimShardAsync("w1", Lease, default);

        Assert.True(await ledger.CompleteShardAsync(lease!, Completion(lease!, Failure(lease!.Videos[0], ErrorCodes.Corrupt)), default));

        Assert.Null(await ledger.ClaimShardAsync("w1", Lease, default));
        Assert.Equal([new FailureRecord("/v/a", ErrorCodes.Corrupt, "corrupt on purpose", 1)], await FinalFailuresAsync());
    }
}

using TempMe.Pipeline.Contracts;
using TempMe.Pipeline.Ledger;
using TempMe.Pipeline.Ledger.Sqlite;
using TempMe.Pipeline.Testing;

namespace TempMe.Pipeline.Ledger.Tests;

public sealed class SqliteLedgerTests : IAsyncLifetime
{
    private readonly string _folder = Directory.CreateTempSubdirectory("tempme-ledger-").FullName;
    private readonly ManualTimeProvider _clock = new(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
    private SqliteLedger _ledger = null!;

    public async Task InitializeAsync()
    {
        _ledger = await SqliteLedger.OpenAsync(Path.Combine(_folder, "ledger.db"), _clock);
        await _ledger.EnsureJobAsync(new JobRecord("random:vit-b32", new string('f', 64), "t12-s224-fps1", 4, ShardSize: 2), default);
    }

    public async Task DisposeAsync()
    {
        await _ledger.DisposeAsync();
        Directory.Delete(_folder, recursive: true);
    }

    private static SourceVideo Video(string name, long size = 10) => new($"/v/{name}", size, new DateTimeOffset(2025, 1, 1, 0, 0, 0, TimeSpan.Zero));

    [Fact]
    public async Task Shards_are_consecutive_runs_of_the_sorted_listing()
    {
        var summary = await _ledger.SyncListingAsync([Video("c"), Video("a"), Video("e"), Video("b"), Video("d")], 3, default);
        Assert.Equal(new ListingSummary(5, 5, 0, 0), summary);
        var first = await _ledger.ClaimShardAsync("w1", TimeSpan.FromMinutes(5), default);
        var second = await _ledger.ClaimShardAsync("w1", TimeSpan.FromMinutes(5), default);
        var third = await _ledger.ClaimShardAsync("w1", TimeSpan.FromMinutes(5), default);
        Assert.Equal(["/v/a", "/v/b"], first!.Videos.Select(v => v.Source));
        Assert.Equal(["/v/c", "/v/d"], second!.Videos.Select(v => v.Source));
        Assert.Equal(["/v/e"], third!.Videos.Select(v => v.Source));
        Assert.Null(await _ledger.ClaimShardAsync("w1", TimeSpan.FromMinutes(5), default));
    }

    [Fact]
    public async Task An_expired_lease_is_claimed_again_and_the_old_holder_cannot_complete()
    {
        await _ledger.SyncListingAsync([Video("a")], 3, default);
        var lease = await _ledger.ClaimShardAsync("w1", TimeSpan.FromMinutes(5), default);
        Assert.Null(await _ledger.ClaimShardAsync("w2", TimeSpan.FromMinutes(5), default));

        _clock.Advance(TimeSpan.FromMinutes(4));
        Assert.True(await _ledger.RenewLeaseAsync(lease!, "w1", TimeSpan.FromMinutes(5), default));
        _clock.Advance(TimeSpan.FromMinutes(4));
        Assert.Null(await _ledger.ClaimShardAsync("w2", TimeSpan.FromMinutes(5), default));

        _clock.Advance(TimeSpan.FromMinutes(2));
        var taken = await _ledger.ClaimShardAsync("w2", TimeSpan.FromMinutes(5), default);
        Assert.NotNull(taken);
        Assert.NotEqual(lease!.LeaseToken, taken.LeaseToken);
        Assert.False(await _ledger.RenewLeaseAsync(lease, "w1", TimeSpan.FromMinutes(5), default));
        var result = new VideoResult { VideoId = taken.Videos[0].VideoId, Source = "/v/a", ContentSha256 = "ab", Embedding = new CachedEmbedding([1, 0, 0, 0], 1.0, [0.0]) };
        Assert.False(await _ledger.CompleteShardAsync(lease, new ShardCompletion("embeddings/part-00000", [result], 3), default));
        Assert.True(await _ledger.CompleteShardAsync(taken, new ShardCompletion("embeddings/part-00000", [result], 3), default));
        Assert.Equal(new LedgerCounts(0, 1, 0, 0), await _ledger.CountAsync(default));
    }

    [Fact]
    public async Task Retryable_failures_are_retried_until_max_attempts_then_final()
    {
        await _ledger.SyncListingAsync([Video("a")], 3, default);
        for (var attempt = 1; attempt <= 3; attempt++)
        {
            var lease = await _ledger.ClaimShardAsync("w", TimeSpan.FromMinutes(5), default);
            Assert.NotNull(lease);
            Assert.Equal(attempt - 1, lease.Videos[0].Attempts);
            var failed = new VideoResult { VideoId = lease.Videos[0].VideoId, Source = "/v/a", ErrorCode = ErrorCodes.Timeout, Message = "slow" };
            Assert.True(await _ledger.CompleteShardAsync(lease, new ShardCompletion(null, [failed], 3), default));
        }

        Assert.Null(await _ledger.ClaimShardAsync("w", TimeSpan.FromMinutes(5), default));
        var failure = Assert.Single(await _ledger.ListFailuresAsync(default));
        Assert.Equal(new FailureRecord("/v/a", "timeout", "slow", 3), failure);
    }

    [Fact]
    public async Task Deterministic_failures_are_final_at_once_and_a_changed_file_is_reset()
    {
        await _ledger.SyncListingAsync([Video("a")], 3, default);
        var lease = await _ledger.ClaimShardAsync("w", TimeSpan.FromMinutes(5), default);
        var failed = new VideoResult { VideoId = lease!.Videos[0].VideoId, Source = "/v/a", ErrorCode = ErrorCodes.Corrupt, Message = "bad" };
        await _ledger.CompleteShardAsync(lease, new ShardCompletion(null, [failed], 3), default);
        Assert.Null(await _ledger.ClaimShardAsync("w", TimeSpan.FromMinutes(5), default));
        Assert.Equal(new ListingSummary(1, 0, 0, 0), await _ledger.SyncListingAsync([Video("a")], 3, default));
        Assert.Null(await _ledger.ClaimShardAsync("w", TimeSpan.FromMinutes(5), default));

        Assert.Equal(new ListingSummary(1, 0, 1, 0), await _ledger.SyncListingAsync([Video("a", size: 11)], 3, default));
        var again = await _ledger.ClaimShardAsync("w", TimeSpan.FromMinutes(5), default);
        Assert.Equal(VideoState.Pending, again!.Videos[0].State);
        Assert.Equal(0, again.Videos[0].Attempts);
    }

    [Fact]
    public async Task A_different_model_is_refused_with_the_way_out()
    {
        var e = await Assert.ThrowsAsync<JobMismatchException>(() =>
            _ledger.EnsureJobAsync(new JobRecord("other", new string('0', 64), "t12-s224-fps1", 4, 2), default));
        Assert.Contains("new --out folder", e.Message);
    }
}

using Npgsql;
using TempMe.Pipeline.Contracts;
using TempMe.Pipeline.Ledger;
using TempMe.Pipeline.Ledger.Postgres;
using TempMe.Pipeline.Testing;
using TempMe.Pipeline.Testing.Ledger;

namespace TempMe.Pipeline.Ledger.Tests;

/// <summary>
/// The ledger contract against the distributed PostgreSQL ledger (one job seen through <see cref="PostgresLedger.ForJob"/>),
/// on a fresh database per fact.
/// </summary>
/// <remarks>
/// Lease time is the server's <c>now()</c>, which a test cannot move, and the ledger rightly takes no clock (many silos
/// and workers must agree on one). So time passing is played by moving the job's lease expiries back by the same span:
/// every lease decision the ledger makes compares an expiry with <c>now()</c>, so this is the same as the clock moving
/// forward, without sleeping. <see cref="A_real_short_lease_runs_out_on_the_server_clock"/> checks the real clock once.
/// </remarks>
public sealed class PostgresShardLedgerContractTests(PostgresServer server) : ShardLedgerContract, IClassFixture<PostgresServer>
{
    private readonly string _database = server.Postgres.CreateDatabase("tempme_ledger_");
    private PostgresLedger? _ledger;
    private string? _jobId;

    /// <inheritdoc />
    protected override bool ChargesAttemptOnExpiredLease => true;

    /// <inheritdoc />
    protected override async Task<IShardLedger> CreateLedgerAsync(IReadOnlyList<SourceVideo> listing, int shardSize)
    {
        _ledger = PostgresLedger.Create(_database);
        await _ledger.MigrateAsync(default);
        _jobId = await _ledger.CreateJobAsync(new DistributedJobSpec("/v", "/out", "random:vit-b32", 12, shardSize, MaxAttempts: 3), default);
        Assert.Equal(listing.Count, await _ledger.RegisterListingAsync(_jobId, _ => Listed(listing), default));
        return _ledger.ForJob(_jobId, $"{new string('f', 64)}/t12-s224-fps1");
    }

    /// <inheritdoc />
    protected override async Task PassTimeAsync(TimeSpan span)
    {
        await using var conn = new NpgsqlConnection(_database);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand("UPDATE shards SET lease_expires = lease_expires - make_interval(secs => $2) WHERE job_id = $1 AND state = 'leased'", conn)
        {
            Parameters = { new() { Value = _jobId }, new() { Value = span.TotalSeconds } },
        };
        await cmd.ExecuteNonQueryAsync();
    }

    /// <inheritdoc />
    protected override Task<IReadOnlyList<FailureRecord>> FinalFailuresAsync() => _ledger!.ListFailuresAsync(_jobId!, 1000, default);

    /// <inheritdoc />
    public override async Task DisposeAsync()
    {
        if (_ledger is not null)
        {
            await _ledger.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_real_short_lease_runs_out_on_the_server_clock()
    {
        var ledger = await CreateLedgerAsync([Video("a")], shardSize: 1);
        var held = await ledger.ClaimShardAsync("w1", TimeSpan.FromMilliseconds(200), default);
        Assert.NotNull(held);

        // Not a timed assertion: once this much real time has passed the lease has run out, however slow the machine.
        await Task.Delay(TimeSpan.FromMilliseconds(400));
        var taken = await ledger.ClaimShardAsync("w2", Lease, default);
        Assert.Equal(held.ShardId, taken?.ShardId);
        Assert.False(await ledger.RenewLeaseAsync(held, "w1", Lease, default));
    }

    [Fact]
    public async Task Leases_held_in_a_dead_silo_end_and_their_shards_are_claimable_again()
    {
        // A string[] passed alone to the params object?[] of the command helper became the argument list, so $1 was
        // the first silo's text and PostgreSQL refused ANY($1): the dead-silo requeue never ran.
        var ledger = await CreateLedgerAsync([Video("a"), Video("b"), Video("c")], shardSize: 1);
        var dead = await _ledger!.ClaimShardAsync(_jobId!, "w1", "dead-silo-1", Lease, default);
        var alsoDead = await _ledger.ClaimShardAsync(_jobId!, "w2", "dead-silo-2", Lease, default);
        var alive = await _ledger.ClaimShardAsync(_jobId!, "w3", "live-silo", Lease, default);
        Assert.NotNull(dead);
        Assert.NotNull(alsoDead);
        Assert.NotNull(alive);

        Assert.Equal(2, await _ledger.ExpireLeasesOfSilosAsync(["dead-silo-1", "dead-silo-2"], default));
        Assert.Equal(0, await _ledger.ExpireLeasesOfSilosAsync(["dead-silo-1"], default));
        Assert.True(await ledger.RenewLeaseAsync(alive, "w3", Lease, default));
        var retaken = new[] { await ledger.ClaimShardAsync("w4", Lease, default), await ledger.ClaimShardAsync("w4", Lease, default) };
        Assert.Equal(new[] { dead.ShardId, alsoDead.ShardId }.Order(), retaken.Select(l => l!.ShardId).Order());
        Assert.Null(await ledger.ClaimShardAsync("w4", Lease, default));
    }

    private static async IAsyncEnumerable<SourceVideo> Listed(IReadOnlyList<SourceVideo> listing)
    {
        foreach (var video in listing)
        {
            yield return video;
        }

        await Task.CompletedTask;
    }
}

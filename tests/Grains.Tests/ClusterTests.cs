using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Orleans.Runtime;
using Orleans.Storage;
using TempMe.Pipeline.Grains.Cluster;
using TempMe.Pipeline.Testing;
using Xunit.Abstractions;
using TempMe.Pipeline.Testing.Postgres;

namespace TempMe.Pipeline.Grains.Tests;

/// <summary>
/// Two real silos and a client on our PostgreSQL tables (clustering, grain storage, reminders through the real
/// ADO.NET providers), each test in a database of its own. Timings go to the test output; nothing asserts on them.
/// </summary>
public sealed class ClusterTests(ITestOutputHelper output)
{
    private const int Active = 3;
    private const int Dead = 6;
    private const string Doomed = "silo-doomed"; // runs in a child process, killed with SIGKILL
    private const string Survivor = "silo-survivor"; // runs in the test process
    private readonly TestPostgres _postgres = new();

    [Fact]
    public async Task Two_silos_join_through_our_membership_tables_and_a_client_reaches_both()
    {
        await using var cluster = await PostgresCluster.CreateAsync(_postgres, "orleans_join_");

        var firstStart = await cluster.StartSiloAsync("silo-a");
        var secondStart = await cluster.StartSiloAsync("silo-b");
        var clientStart = await cluster.ConnectClientAsync();

        var rows = await cluster.MembershipAsync();
        Assert.Equal(Active, rows["silo-a"]);
        Assert.Equal(Active, rows["silo-b"]);
        var hosts = await cluster.Client.GetGrain<IManagementGrain>(0).GetHosts(onlyActive: true);
        Assert.Equal(2, hosts.Count);
        var reading = await cluster.Client.GetGrain<IProbeGrain>("join").WriteAsync("hello");
        Assert.Contains(reading.Silo, rows.Keys);
        output.WriteLine($"silo start: first {firstStart.TotalSeconds:0.00} s, second (joining) {secondStart.TotalSeconds:0.00} s; client connect {clientStart.TotalSeconds:0.00} s");
    }

    [Fact]
    public async Task State_written_on_one_silo_is_read_on_the_other_after_that_silo_dies_and_stale_writes_are_rejected()
    {
        await using var cluster = await PostgresCluster.CreateAsync(_postgres, "orleans_state_");
        var processStart = await cluster.StartSiloProcessAsync(Doomed);
        await cluster.StartSiloAsync(Survivor);
        await cluster.ConnectClientAsync();
        var (grain, key) = await GrainOnAsync(cluster, Doomed);

        var latencies = new List<double>();
        var written = await grain.WriteAsync("first");
        for (var i = 0; i < 50; i++)
        {
            var watch = Stopwatch.StartNew();
            written = await grain.WriteAsync($"value-{i}");
            latencies.Add(watch.Elapsed.TotalMilliseconds);
        }

        Assert.Equal(Doomed, written.Silo);
        var killedAt = Stopwatch.StartNew();
        await cluster.KillSiloProcessAsync(Doomed);
        var detected = await PostgresCluster.WaitUntilAsync(async () => (await cluster.MembershipAsync())[Doomed] == Dead, $"{Doomed} to be marked dead in orleans_membership");
        // Declared dead by the survivor's votes (a silo that marks itself dead on the way out leaves no suspicions).
        Assert.Contains(",", await SuspectTimesAsync(cluster, Doomed), StringComparison.Ordinal);

        var read = await PostgresCluster.RetryAsync(grain.ReadAsync);
        var failedOverIn = killedAt.Elapsed;
        Assert.Equal(Survivor, read.Silo);
        Assert.Equal("value-49", read.Value);
        Assert.Equal(written.ETag, read.ETag);

        // A writer holding an older version (a zombie activation, a second writer) is refused by WriteToStorageKey.
        var storage = cluster.Services(Survivor).GetRequiredKeyedService<IGrainStorage>(OrleansNames.JobStorage);
        var grainId = GrainId.Create("tempme-test-probe", key);
        var stale = new GrainState<ProbeState>();
        await storage.ReadStateAsync(ProbeGrain.StateName, grainId, stale);
        Assert.Equal("value-49", Assert.IsType<ProbeState>(stale.State).Value);
        var afterFailover = await grain.WriteAsync("after-failover");
        Assert.Equal(Survivor, afterFailover.Silo);
        stale.State.Value = "stale";
        await Assert.ThrowsAsync<InconsistentStateException>(() => storage.WriteStateAsync(ProbeGrain.StateName, grainId, stale));
        var blind = new GrainState<ProbeState>(new ProbeState { Value = "blind" });
        await Assert.ThrowsAsync<InconsistentStateException>(() => storage.WriteStateAsync(ProbeGrain.StateName, grainId, blind));
        Assert.Equal("after-failover", (await grain.ReadAsync()).Value);
        Assert.Equal("after-failover", (await grain.WriteAsync("after-failover")).Value);

        // Stored state names types by their pinned alias, not by CLR or assembly names.
        var payload = await PayloadAsync(cluster.ConnectionString, key);
        Assert.DoesNotContain("TempMe.Pipeline", System.Text.Encoding.UTF8.GetString(payload), StringComparison.Ordinal);

        latencies.Sort();
        output.WriteLine($"WriteStateAsync via grain call: p50 {latencies[latencies.Count / 2]:0.00} ms, p99 {latencies[(int)(latencies.Count * 0.99)]:0.00} ms, max {latencies[^1]:0.00} ms (n={latencies.Count})");
        output.WriteLine($"silo in a child process: started and joined {processStart.TotalSeconds:0.00} s after launch");
        output.WriteLine($"dead-silo detection (SIGKILL -> status 6 in orleans_membership): {detected.TotalSeconds:0.00} s; first successful call on the survivor after {failedOverIn.TotalSeconds:0.00} s");
    }

    [Fact]
    public async Task A_reminder_registered_on_one_silo_keeps_firing_on_the_other_after_that_silo_dies()
    {
        await using var cluster = await PostgresCluster.CreateAsync(_postgres, "orleans_remind_");
        await cluster.StartSiloProcessAsync(Doomed);
        await cluster.StartSiloAsync(Survivor);
        await cluster.ConnectClientAsync();

        var (grain, _) = await GrainOnAsync(cluster, Doomed);
        Assert.Equal(Doomed, (await grain.StartTickingAsync(TimeSpan.FromSeconds(1))).Silo);
        await PostgresCluster.WaitUntilAsync(async () => (await grain.ReadAsync()).Ticks >= 2, "two reminder ticks");
        Assert.Equal(1, await RemindersAsync(cluster.ConnectionString));
        var before = await grain.ReadAsync();
        Assert.Equal(Doomed, before.LastTickSilo);

        var killedAt = Stopwatch.StartNew();
        await cluster.KillSiloProcessAsync(Doomed);
        ProbeReading after = before;
        await PostgresCluster.WaitUntilAsync(async () =>
        {
            after = await PostgresCluster.RetryAsync(grain.ReadAsync);
            return after.LastTickSilo == Survivor && after.Ticks > before.Ticks;
        }, $"a reminder tick on {Survivor}");

        Assert.Equal(Survivor, after.Silo);
        Assert.Equal(1, await RemindersAsync(cluster.ConnectionString));
        output.WriteLine($"reminder: first tick on the survivor {killedAt.Elapsed.TotalSeconds:0.00} s after its silo was killed (ticks {before.Ticks} -> {after.Ticks})");
    }

    // Placement is random: activate grains (a read, which changes nothing) until one lands on silo.
    private static async Task<(IProbeGrain Grain, string Key)> GrainOnAsync(PostgresCluster cluster, string silo)
    {
        for (var i = 0; i < 64; i++)
        {
            var key = $"job-{i}";
            var grain = cluster.Client.GetGrain<IProbeGrain>(key);
            if ((await grain.ReadAsync()).Silo == silo)
            {
                return (grain, key);
            }
        }

        throw new InvalidOperationException($"No grain of 64 was placed on {silo}: is it in the cluster?");
    }

    private static async Task<byte[]> PayloadAsync(string db, string key)
    {
        await using var conn = new NpgsqlConnection(db);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand("SELECT payload_binary FROM orleans_storage WHERE grain_id_extension = $1", conn);
        cmd.Parameters.Add(new NpgsqlParameter { Value = key });
        return (byte[])(await cmd.ExecuteScalarAsync())!;
    }

    private static async Task<string> SuspectTimesAsync(PostgresCluster cluster, string silo)
    {
        await using var conn = new NpgsqlConnection(cluster.ConnectionString);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand("SELECT coalesce(suspect_times, '') FROM orleans_membership WHERE deployment_id = $1 AND silo_name = $2", conn);
        cmd.Parameters.Add(new NpgsqlParameter { Value = cluster.ClusterId });
        cmd.Parameters.Add(new NpgsqlParameter { Value = silo });
        return (string)(await cmd.ExecuteScalarAsync())!;
    }

    private static async Task<long> RemindersAsync(string db)
    {
        await using var conn = new NpgsqlConnection(db);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand("SELECT count(*) FROM orleans_reminders", conn);
        return (long)(await cmd.ExecuteScalarAsync())!;
    }
}

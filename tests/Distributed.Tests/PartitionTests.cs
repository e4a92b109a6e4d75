using System.Globalization;
using System.Net;
using System.Text.Json;
using Npgsql;
using TempMe.Pipeline.Testing;
using Xunit.Abstractions;

namespace TempMe.Pipeline.Distributed.Tests;

/// <summary>
/// A real network partition: one worker silo runs in its own network namespace (ip netns + veth) and the veth pair is
/// taken down mid-shard. The rest of the cluster must declare it dead, requeue its shard, and finish the job with every
/// clip exactly once; when the network comes back the cut-off silo must not complete its old shard.
/// Needs root and iproute2 (scripts/install-deps.sh --test installs it; CI runs as root).
/// </summary>
[Collection(DistributedCollection.Name)]
public sealed class PartitionTests(DistributedFixture fixture, ITestOutputHelper output)
{
    private const string Partitioned = "ns-worker";
    private static readonly TimeSpan JobTimeout = TimeSpan.FromSeconds(180);

    [Fact]
    public async Task Partitioned_worker_silo_is_declared_dead_and_the_job_completes_exactly_once()
    {
        // Local-folder storage, not Azurite: the namespaced worker shares the host's filesystem but not its loopback
        // (where Azurite listens), and the folders lie under DistributedFixture.LocalRoot, which the silo's --allowed-roots covers.
        const int clips = 24;
        var root = Path.Combine(DistributedFixture.LocalRoot, $"partition-{Guid.NewGuid():N}"[..22]);
        var source = Path.Combine(root, "in");
        var outputFolder = Path.Combine(root, "out");
        Directory.CreateDirectory(source);
        foreach (var file in Directory.EnumerateFiles(fixture.Videos).Order(StringComparer.Ordinal).Take(clips))
        {
            File.Copy(file, Path.Combine(source, Path.GetFileName(file)));
        }

        using var ns = NetworkNamespace.Create();

        // The host's silos publish the host side of the veth pair (its loopback is not the namespace's), and it stays
        // local to the host through the cut, so they keep reaching each other.
        var publishHostSide = new Dictionary<string, string?> { ["TEMPME_ADVERTISE_ADDRESS"] = ns.HostAddress.ToString() };
        using var cluster = fixture.NewCluster(
            silo: (database, httpPort) => fixture.StartSilo(database, httpPort, environment: publishHostSide),
            worker: (database, workerId) => fixture.Start(WorkerArgs(database, workerId, []), environment: publishHostSide));
        var db = cluster.Database;

        // PostgreSQL listens on the host's loopback only: the namespaced worker reaches it through a forwarder on the host
        // side of the veth pair, so the cut severs its database path as well as its cluster path.
        var direct = new NpgsqlConnectionStringBuilder(db);
        var pgHost = IPAddress.Parse(direct.Host is "localhost" or null ? "127.0.0.1" : direct.Host);
        using var forwarder = new TcpForwarder(ns.HostAddress, new IPEndPoint(pgHost, direct.Port));
        var throughVeth = new NpgsqlConnectionStringBuilder(db) { Host = forwarder.Endpoint.Address.ToString(), Port = forwarder.Endpoint.Port }.ConnectionString;

        // A lease of 10 minutes: only the cluster's death declaration can requeue the partitioned worker's shard in time.
        // The schema is applied here first, so the namespaced worker's start-up check finds it current.
        await using (var migrate = TempMe.Pipeline.Ledger.Postgres.PostgresLedger.Create(db, TimeSpan.FromSeconds(30)))
        {
            await migrate.MigrateAsync(CancellationToken.None);
        }

        var cutOff = cluster.AddWorker(Partitioned, (_, workerId) => fixture.StartUnder(ns.ExecPrefix, WorkerArgs(throughVeth, workerId, ["--advertise-address", ns.Address.ToString()])));
        await using var conn = new NpgsqlConnection(db);
        await conn.OpenAsync();

        // The namespaced silo joins first (alone it does not race the other worker's schema check at start-up): being
        // Active in the membership table shows it reaches PostgreSQL through the veth.
        var joinBy = DateTime.UtcNow + TimeSpan.FromSeconds(90);
        while (await ActiveAsync(conn) == 0)
        {
            Assert.False(cutOff.HasExited, "the namespaced worker exited:\n" + SiloClient.Dump([cutOff]));
            Assert.True(DateTime.UtcNow < joinBy, "the namespaced worker did not join the cluster:\n" + SiloClient.Dump([cutOff]));
            await Task.Delay(200);
        }

        var silo = await cluster.AddSiloAsync(readyTimeout: TimeSpan.FromSeconds(60));
        using var client = new SiloClient(cluster.Port);
        var host = cluster.AddWorker("host-worker");
        var all = cluster.Processes;
        var id = await client.SubmitAsync(new { source, output = outputFolder, model = "random:vit-b32", frames = 12, shardSize = 4, maxAttempts = 3 });

        var deadline = DateTime.UtcNow + JobTimeout;
        while (await Sql.ScalarAsync<long>(conn, $"SELECT count(*) FROM shards WHERE lease_owner = '{Partitioned}' AND state = 'leased'") == 0
               || await Sql.ScalarAsync<long>(conn, "SELECT count(*) FROM videos WHERE state = 'done'") < 2)
        {
            Assert.True(DateTime.UtcNow < deadline, "the namespaced worker never got to work:\n" + SiloClient.Dump(all));
            await Task.Delay(100);
        }

        ns.Cut();
        var cut = DateTime.UtcNow;
        while (await Sql.ScalarAsync<long>(conn, $"SELECT count(*) FROM shards WHERE lease_owner = '{Partitioned}' AND state = 'leased'") > 0)
        {
            Assert.True(DateTime.UtcNow < cut + TimeSpan.FromSeconds(120), "the partitioned worker's shard was not requeued within 2 minutes (its lease runs 10):\n" + SiloClient.Dump(all));
            await Task.Delay(100);
        }

        output.WriteLine($"the partitioned worker's shard was requeued {(DateTime.UtcNow - cut).TotalSeconds:0.0} s after the cut (default membership settings)");

        // Past this point the cut-off worker can reach neither the cluster nor PostgreSQL, so its ledger row is frozen.
        var shardsDoneAtCut = await Sql.ScalarAsync<long>(conn, $"SELECT shards_done FROM workers WHERE id = '{Partitioned}'");
        var job = await client.WaitForJobAsync(id, SiloClient.IsFinished, JobTimeout, all);
        Assert.Equal("completed", job.GetProperty("state").GetString());
        Assert.Equal(clips, SiloClient.Count(job, "done"));
        await client.WaitForJobAsync(id, j => j.GetProperty("manifestWritten").GetBoolean(), TimeSpan.FromSeconds(30), all);
        AssertExactlyOnce(outputFolder, source, clips);
        Assert.Contains("declared dead", silo.Output, StringComparison.Ordinal);
        Assert.True(await Sql.ScalarAsync<int>(conn, "SELECT max(attempts) FROM shards") >= 2, "no shard was claimed twice, so the partitioned worker's shard was not redone");

        // The network comes back. The cut-off silo reads in the membership table that it was declared dead and Orleans
        // stops it with a fail-fast (SIGABRT, exit 134), so it cannot go on as a zombie beside the shard's new owner;
        // its supervisor (Kubernetes) starts a new silo. It must not complete the shard it held (its lease is gone).
        ns.Heal();
        var healed = DateTime.UtcNow;
        while (!cutOff.HasExited)
        {
            Assert.True(DateTime.UtcNow < healed + TimeSpan.FromSeconds(120), "the partitioned worker did not stop within 2 minutes of the heal:\n" + SiloClient.Dump(all));
            await Task.Delay(200);
        }

        output.WriteLine($"after the heal the partitioned worker stopped with exit code {cutOff.ExitCode}, {(DateTime.UtcNow - healed).TotalSeconds:0.0} s later");
        Assert.True(cutOff.ExitCode == 134 && cutOff.Output.Contains("I have been told I am dead", StringComparison.Ordinal), $"the partitioned worker ended otherwise than by learning it was dead (exit {cutOff.ExitCode}):\n{cutOff.Output}");

        // Give a late completion from the old lease a moment to arrive, if it were going to.
        await Task.Delay(TimeSpan.FromSeconds(3));
        Assert.Equal(shardsDoneAtCut, await Sql.ScalarAsync<long>(conn, $"SELECT shards_done FROM workers WHERE id = '{Partitioned}'"));
        Assert.Equal("completed", (await client.TryGetJobAsync(id))?.GetProperty("state").GetString());
        AssertExactlyOnce(outputFolder, source, clips);
        Assert.False(silo.HasExited, "the coordinator exited:\n" + silo.Output);
        Assert.False(host.HasExited, "the host worker exited:\n" + host.Output);
    }

    private static string[] WorkerArgs(string db, string workerId, string[] extra) =>
        ["worker", "--db", db, "--lease-seconds", "600", "--heartbeat-seconds", "2", "--concurrency", "1", "--worker-id", workerId, .. extra];

    /// <summary>Every clip appears exactly once across the part files of the output folder, and index.json agrees.</summary>
    private static void AssertExactlyOnce(string outputFolder, string source, int expected)
    {
        var sources = new List<string>();
        foreach (var part in Directory.EnumerateFiles(Path.Combine(outputFolder, "embeddings"), "*.jsonl"))
        {
            foreach (var line in File.ReadLines(part).Where(l => l.Length > 0))
            {
                sources.Add(JsonDocument.Parse(line).RootElement.GetProperty("source").GetString()!);
            }
        }

        Assert.Equal(expected, sources.Count);
        Assert.Equal(expected, sources.Distinct(StringComparer.Ordinal).Count());
        Assert.All(sources, s => Assert.Contains(Path.GetFileName(source), s, StringComparison.Ordinal));
        var index = JsonDocument.Parse(File.ReadAllText(Path.Combine(outputFolder, "index.json"))).RootElement;
        Assert.Equal(expected, index.GetProperty("counts").GetProperty("indexed").GetInt64());
        Assert.Equal(expected, index.GetProperty("parts").EnumerateArray().Sum(p => p.GetProperty("rows").GetInt32()));
    }

    // The membership table appears once the worker has applied the Orleans schema.
    private static async Task<long> ActiveAsync(NpgsqlConnection conn)
    {
        try
        {
            return await Sql.ScalarAsync<long>(conn, $"SELECT count(*) FROM orleans_membership WHERE silo_name = '{Partitioned}' AND status = 3");
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UndefinedTable)
        {
            return 0;
        }
    }
}

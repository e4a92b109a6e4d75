using System.Text.Json;
using Npgsql;
using TempMe.Pipeline.Testing;
using Xunit.Abstractions;

namespace TempMe.Pipeline.Distributed.Tests;

/// <summary>A silo and worker processes against real PostgreSQL and Azurite.</summary>
[Collection(DistributedCollection.Name)]
public sealed class DistributedIndexingTests(DistributedFixture fixture, ITestOutputHelper output)
{
    private static readonly TimeSpan JobTimeout = TimeSpan.FromSeconds(150);

    [Fact]
    public async Task Two_workers_index_an_azurite_corpus_and_every_video_appears_exactly_once()
    {
        var (container, _) = await fixture.UploadAsync(40);
        using var cluster = await fixture.StartClusterAsync();
        var (db, port, silo) = (cluster.Database, cluster.Port, cluster.Silo);
        using var client = new SiloClient(port);
        using var a = cluster.AddWorker("worker-a");
        using var b = cluster.AddWorker("worker-b");

        var id = await client.SubmitAsync(DistributedFixture.JobSpec(container, shardSize: 5));
        var job = await client.WaitForJobAsync(id, SiloClient.IsFinished, JobTimeout, silo, a, b);

        Assert.Equal("completed", job.GetProperty("state").GetString());
        Assert.Equal(40, SiloClient.Count(job, "done"));
        await AssertExactlyOnceAsync(container, 40, client, id, silo, a, b);
        Assert.Equal(0, await a.TerminateAsync(TimeSpan.FromSeconds(20)));
        Assert.Equal(0, await b.TerminateAsync(TimeSpan.FromSeconds(20)));
        await using var conn = await Sql.OpenAsync(db);
        Assert.Equal(2L, await Sql.ScalarAsync<long>(conn, "SELECT count(*) FROM workers WHERE videos_done > 0"));
    }

    [Fact]
    public async Task A_worker_killed_mid_shard_has_its_shard_redone_by_the_other_after_the_lease_expires()
    {
        var (container, _) = await fixture.UploadAsync(20);
        using var cluster = await fixture.StartClusterAsync();
        var (db, port, silo) = (cluster.Database, cluster.Port, cluster.Silo);
        using var client = new SiloClient(port);
        using var a = cluster.AddWorker("worker-a");
        var id = await client.SubmitAsync(DistributedFixture.JobSpec(container, shardSize: 5));

        // Kill worker A once it holds a lease and has embedded some videos: it dies mid-shard.
        await using (var conn = await Sql.OpenAsync(db))
        {
            var deadline = DateTime.UtcNow + JobTimeout;
            while (await Sql.ScalarAsync<long>(conn, "SELECT count(*) FROM shards WHERE lease_owner = 'worker-a' AND state = 'leased'") == 0
                   || await Sql.ScalarAsync<long>(conn, "SELECT count(*) FROM videos WHERE state = 'done'") < 2)
            {
                Assert.True(DateTime.UtcNow < deadline, "worker A never got to work:\n" + SiloClient.Dump([silo, a]));
                await Task.Delay(100);
            }
        }

        a.KillHard();
        using var b = cluster.AddWorker("worker-b");
        var job = await client.WaitForJobAsync(id, SiloClient.IsFinished, JobTimeout, silo, a, b);

        Assert.Equal("completed", job.GetProperty("state").GetString());
        await AssertExactlyOnceAsync(container, 20, client, id, silo, a, b);
        await using var check = await Sql.OpenAsync(db);
        Assert.True(await Sql.ScalarAsync<int>(check, "SELECT max(attempts) FROM shards") >= 2, "no shard was claimed twice, so the killed worker's shard was not redone");
    }

    [Fact]
    public async Task The_job_completes_across_a_silo_restart_and_a_ten_second_postgres_outage()
    {
        var (container, _) = await fixture.UploadAsync(20);
        using var cluster = await fixture.StartClusterAsync(workers: 2);
        var (silo, a, b) = (cluster.Silo, cluster.Workers[0], cluster.Workers[1]);
        using var client = new SiloClient(cluster.Port);
        var id = await client.SubmitAsync(DistributedFixture.JobSpec(container, shardSize: 4));
        await client.WaitForJobAsync(id, j => SiloClient.Count(j, "done") >= 3, JobTimeout, silo, a, b);

        // The silo dies and comes back: workers keep going because all state is in PostgreSQL.
        silo.KillHard();
        silo.Dispose();
        await Task.Delay(1000);
        var silo2 = await cluster.AddSiloAsync(cluster.Port);
        await client.WaitForJobAsync(id, j => SiloClient.Count(j, "done") >= 8 || SiloClient.IsFinished(j), JobTimeout, silo2, a, b);

        // PostgreSQL goes away for 10 s mid-job.
        fixture.StopPostgres();
        try
        {
            await Task.Delay(TimeSpan.FromSeconds(10));
        }
        finally
        {
            fixture.StartPostgres();
        }

        var job = await client.WaitForJobAsync(id, SiloClient.IsFinished, JobTimeout, silo2, a, b);
        Assert.Equal("completed", job.GetProperty("state").GetString());
        Assert.Equal(20, SiloClient.Count(job, "done"));
        Assert.Equal(0, SiloClient.Count(job, "pending"));
        await AssertExactlyOnceAsync(container, 20, client, id, silo2, a, b);
        Assert.False(a.HasExited, "worker A died during the outage:\n" + a.Output);
        Assert.False(b.HasExited, "worker B died during the outage:\n" + b.Output);
    }

    [Fact]
    public async Task A_corrupt_video_is_quarantined_and_listed_in_failures()
    {
        var (container, _) = await fixture.UploadAsync(6, new Dictionary<string, byte[]> { ["broken.mp4"] = "this is not a video"u8.ToArray() });
        using var cluster = await fixture.StartClusterAsync();
        var (port, silo) = (cluster.Port, cluster.Silo);
        using var client = new SiloClient(port);
        using var a = cluster.AddWorker("worker-a");
        var id = await client.SubmitAsync(DistributedFixture.JobSpec(container, shardSize: 4, maxAttempts: 2));
        var job = await client.WaitForJobAsync(id, SiloClient.IsFinished, JobTimeout, silo, a);

        Assert.Equal("completed_with_failures", job.GetProperty("state").GetString());
        Assert.Equal(6, SiloClient.Count(job, "done"));
        Assert.Equal(1, SiloClient.Count(job, "failed"));
        var failures = JsonDocument.Parse(await client.Http.GetStringAsync($"api/jobs/{id}/failures")).RootElement;
        var failure = Assert.Single(failures.EnumerateArray());
        Assert.EndsWith("in/broken.mp4", failure.GetProperty("source").GetString(), StringComparison.Ordinal);
        Assert.Contains(failure.GetProperty("error_code").GetString(), new[] { "not_a_video", "corrupt" });
        Assert.Equal(1, failure.GetProperty("attempts").GetInt32());
        var jsonl = await client.Http.GetStringAsync($"api/jobs/{id}/failures?format=jsonl");
        Assert.Single(jsonl.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        await AssertExactlyOnceAsync(container, 6, client, id, silo, a);
        var failuresFile = await fixture.ReadOutputTextAsync(container, "failures.jsonl");
        Assert.Contains("broken.mp4", failuresFile, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Killing_a_worker_silo_and_the_coordinator_hosting_the_job_loses_and_duplicates_nothing()
    {
        // Two coordinator silos and two worker silos in one Orleans cluster; 40 clips and one corrupt file.
        var (container, _) = await fixture.UploadAsync(40, new Dictionary<string, byte[]> { ["broken.mp4"] = "this is not a video"u8.ToArray() });

        // A lease of 10 minutes: only the cluster's death declaration can requeue the dead worker's shard in time.
        using var cluster = await fixture.StartClusterAsync(silos: 2, workers: 2, worker: (database, workerId) =>
            fixture.Start(["worker", "--db", database, "--lease-seconds", "600", "--heartbeat-seconds", "2", "--concurrency", "1", "--worker-id", workerId]));
        var db = cluster.Database;
        var coordinators = cluster.Silos.ToArray();
        var clients = cluster.Ports.Select(p => new SiloClient(p)).ToArray();
        try
        {
            var (a, b) = (cluster.Workers[0], cluster.Workers[1]);
            var all = cluster.Processes;
            var id = await clients[0].SubmitAsync(DistributedFixture.JobSpec(container, shardSize: 5, maxAttempts: 2));

            // The job's grain logs its listing in the silo that hosts it.
            var deadline = DateTime.UtcNow + JobTimeout;
            int host;
            while ((host = Array.FindIndex(coordinators, c => c.Output.Contains($"Job {id}: listed", StringComparison.Ordinal))) < 0)
            {
                Assert.True(DateTime.UtcNow < deadline, "no coordinator listed the job:\n" + SiloClient.Dump(all));
                await Task.Delay(100);
            }

            var survivor = 1 - host;
            deadline = DateTime.UtcNow + TimeSpan.FromMinutes(4);
            await using var conn = await Sql.OpenAsync(db);
            while (await Sql.ScalarAsync<long>(conn, "SELECT count(*) FROM shards WHERE lease_owner = 'worker-a' AND state = 'leased'") == 0
                   || await Sql.ScalarAsync<long>(conn, "SELECT count(*) FROM videos WHERE state = 'done'") < 2)
            {
                Assert.True(DateTime.UtcNow < deadline, "worker A never got to work:\n" + SiloClient.Dump(all));
                await Task.Delay(100);
            }

            // kill -9 of worker A mid-shard and of the coordinator hosting the job's grain, together.
            a.KillHard();
            coordinators[host].KillHard();
            var killed = DateTime.UtcNow;
            while (await Sql.ScalarAsync<long>(conn, "SELECT count(*) FROM shards WHERE lease_owner = 'worker-a' AND state = 'leased'") > 0)
            {
                Assert.True(DateTime.UtcNow < killed + TimeSpan.FromSeconds(120), "worker A's shard was not requeued within 2 minutes (its lease runs 10):\n" + SiloClient.Dump(all));
                await Task.Delay(100);
            }

            var requeuedAfter = DateTime.UtcNow - killed;
            output.WriteLine($"worker A's shard was requeued {requeuedAfter.TotalSeconds:0.0} s after kill -9 (default membership settings)");

            var job = await clients[survivor].WaitForJobAsync(id, SiloClient.IsFinished, JobTimeout, coordinators[survivor], b);
            Assert.Equal("completed_with_failures", job.GetProperty("state").GetString());
            Assert.Equal(40, SiloClient.Count(job, "done"));
            Assert.Equal(1, SiloClient.Count(job, "failed"));
            await AssertExactlyOnceAsync(container, 40, clients[survivor], id, coordinators[survivor], b);
            Assert.Contains("broken.mp4", await fixture.ReadOutputTextAsync(container, "failures.jsonl"), StringComparison.Ordinal);
            Assert.Contains("declared dead", coordinators[survivor].Output, StringComparison.Ordinal);
        }
        finally
        {
            foreach (var client in clients)
            {
                client.Dispose();
            }
        }
    }

    /// <summary>Every uploaded clip appears exactly once across the parts, and index.json (written after completion) agrees.</summary>
    private async Task AssertExactlyOnceAsync(string container, int expected, SiloClient client, string id, params TempmeProcess[] processes)
    {
        await client.WaitForJobAsync(id, j => j.GetProperty("manifestWritten").GetBoolean(), TimeSpan.FromSeconds(30), processes);
        var sources = await fixture.ReadOutputSourcesAsync(container);
        var clips = sources.Where(s => !s.EndsWith("broken.mp4", StringComparison.Ordinal)).ToList();
        Assert.Equal(expected, clips.Count);
        Assert.Equal(expected, clips.Distinct(StringComparer.Ordinal).Count());
        Assert.All(clips, s => Assert.StartsWith(DistributedFixture.Address(container, "in/"), s, StringComparison.Ordinal));
        var index = JsonDocument.Parse((await fixture.ReadOutputTextAsync(container, "index.json"))!).RootElement;
        Assert.Equal(expected, index.GetProperty("counts").GetProperty("indexed").GetInt64());
        Assert.Equal(expected, index.GetProperty("parts").EnumerateArray().Sum(p => p.GetProperty("rows").GetInt32()));
    }
}

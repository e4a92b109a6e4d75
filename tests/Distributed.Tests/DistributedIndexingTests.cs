using System.Text.Json;
using Npgsql;
using TempMe.Pipeline.Testing;

namespace TempMe.Pipeline.Distributed.Tests;

/// <summary>A silo and worker processes against real PostgreSQL and Azurite.</summary>
[Collection(DistributedCollection.Name)]
public sealed class DistributedIndexingTests(DistributedFixture fixture)
{
    private static readonly TimeSpan JobTimeout = TimeSpan.FromSeconds(150);

    [Fact]
    public async Task Two_workers_index_an_azurite_corpus_and_every_video_appears_exactly_once()
    {
        var db = fixture.CreateDatabase();
        var (container, _) = await fixture.UploadAsync(40);
        var port = DistributedFixture.FreePort();
        using var silo = fixture.StartSilo(db, port);
        using var client = new SiloClient(port);
        await client.WaitReadyAsync(TimeSpan.FromSeconds(30), silo);
        using var a = fixture.StartWorker(db, "worker-a");
        using var b = fixture.StartWorker(db, "worker-b");

        var id = await client.SubmitAsync(Spec(container, shardSize: 5));
        var job = await client.WaitForJobAsync(id, SiloClient.IsFinished, JobTimeout, silo, a, b);

        Assert.Equal("completed", job.GetProperty("state").GetString());
        Assert.Equal(40, SiloClient.Count(job, "done"));
        await AssertExactlyOnceAsync(container, 40, client, id, silo, a, b);
        Assert.Equal(0, await a.TerminateAsync(TimeSpan.FromSeconds(20)));
        Assert.Equal(0, await b.TerminateAsync(TimeSpan.FromSeconds(20)));
        await using var conn = await Open(db);
        Assert.Equal(2L, await Scalar<long>(conn, "SELECT count(*) FROM workers WHERE videos_done > 0"));
    }

    [Fact]
    public async Task A_worker_killed_mid_shard_has_its_shard_redone_by_the_other_after_the_lease_expires()
    {
        var db = fixture.CreateDatabase();
        var (container, _) = await fixture.UploadAsync(20);
        var port = DistributedFixture.FreePort();
        using var silo = fixture.StartSilo(db, port);
        using var client = new SiloClient(port);
        await client.WaitReadyAsync(TimeSpan.FromSeconds(30), silo);
        using var a = fixture.StartWorker(db, "worker-a");
        var id = await client.SubmitAsync(Spec(container, shardSize: 5));

        // Kill worker A once it holds a lease and has embedded some videos: it dies mid-shard.
        await using (var conn = await Open(db))
        {
            var deadline = DateTime.UtcNow + JobTimeout;
            while (await Scalar<long>(conn, "SELECT count(*) FROM shards WHERE lease_owner = 'worker-a' AND state = 'leased'") == 0
                   || await Scalar<long>(conn, "SELECT count(*) FROM videos WHERE state = 'done'") < 2)
            {
                Assert.True(DateTime.UtcNow < deadline, "worker A never got to work:\n" + SiloClient.Dump([silo, a]));
                await Task.Delay(100);
            }
        }

        a.KillHard();
        using var b = fixture.StartWorker(db, "worker-b");
        var job = await client.WaitForJobAsync(id, SiloClient.IsFinished, JobTimeout, silo, a, b);

        Assert.Equal("completed", job.GetProperty("state").GetString());
        await AssertExactlyOnceAsync(container, 20, client, id, silo, a, b);
        await using var check = await Open(db);
        Assert.True(await Scalar<int>(check, "SELECT max(attempts) FROM shards") >= 2, "no shard was claimed twice, so the killed worker's shard was not redone");
    }

    [Fact]
    public async Task The_job_completes_across_a_silo_restart_and_a_ten_second_postgres_outage()
    {
        var db = fixture.CreateDatabase();
        var (container, _) = await fixture.UploadAsync(20);
        var port = DistributedFixture.FreePort();
        var silo = fixture.StartSilo(db, port);
        using var client = new SiloClient(port);
        await client.WaitReadyAsync(TimeSpan.FromSeconds(30), silo);
        using var a = fixture.StartWorker(db, "worker-a");
        using var b = fixture.StartWorker(db, "worker-b");
        var id = await client.SubmitAsync(Spec(container, shardSize: 4));
        await client.WaitForJobAsync(id, j => SiloClient.Count(j, "done") >= 3, JobTimeout, silo, a, b);

        // The silo dies and comes back: workers keep going because all state is in PostgreSQL.
        silo.KillHard();
        silo.Dispose();
        await Task.Delay(1000);
        using var silo2 = fixture.StartSilo(db, port);
        await client.WaitReadyAsync(TimeSpan.FromSeconds(30), silo2);
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
        var db = fixture.CreateDatabase();
        var (container, _) = await fixture.UploadAsync(6, new Dictionary<string, byte[]> { ["broken.mp4"] = "this is not a video"u8.ToArray() });
        var port = DistributedFixture.FreePort();
        using var silo = fixture.StartSilo(db, port);
        using var client = new SiloClient(port);
        await client.WaitReadyAsync(TimeSpan.FromSeconds(30), silo);
        using var a = fixture.StartWorker(db, "worker-a");
        var id = await client.SubmitAsync(Spec(container, shardSize: 4, maxAttempts: 2));
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

    private static object Spec(string container, int shardSize, int maxAttempts = 3) => new
    {
        source = DistributedFixture.Address(container, "in"),
        output = DistributedFixture.Address(container, "out"),
        model = "random:vit-b32",
        frames = 12,
        shardSize,
        maxAttempts,
    };

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

    private static async Task<NpgsqlConnection> Open(string db)
    {
        var conn = new NpgsqlConnection(db);
        await conn.OpenAsync();
        return conn;
    }

    private static async Task<T> Scalar<T>(NpgsqlConnection conn, string sql)
    {
        await using var cmd = new NpgsqlCommand(sql, conn);
        return (T)Convert.ChangeType((await cmd.ExecuteScalarAsync())!, typeof(T), System.Globalization.CultureInfo.InvariantCulture);
    }
}

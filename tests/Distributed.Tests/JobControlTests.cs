using System.Net;
using System.Text.Json;
using Npgsql;
using TempMe.Pipeline.Testing;

namespace TempMe.Pipeline.Distributed.Tests;

/// <summary>Cancel, retry-failed and the workers table, with a silo and a worker against real PostgreSQL and Azurite.</summary>
[Collection(DistributedCollection.Name)]
public sealed class JobControlTests(DistributedFixture fixture)
{
    private static readonly TimeSpan JobTimeout = TimeSpan.FromSeconds(120);

    [Fact]
    public async Task Cancel_stops_workers_taking_the_jobs_shards_and_the_job_stays_cancelled()
    {
        var (container, _) = await fixture.UploadAsync(16);
        using var cluster = await fixture.StartClusterAsync();
        var (db, port, silo) = (cluster.Database, cluster.Port, cluster.Silo);
        using var client = new SiloClient(port);
        using var a = cluster.AddWorker("worker-a");
        var id = await client.SubmitAsync(DistributedFixture.JobSpec(container, shardSize: 2));
        await client.WaitForJobAsync(id, j => SiloClient.Count(j, "done") >= 2, JobTimeout, silo, a);

        var (status, body) = await client.PostAsync($"api/jobs/{id}/cancel");
        Assert.True(status == HttpStatusCode.OK, $"cancel answered {(int)status}: {body}");
        Assert.Equal("cancelled", JsonDocument.Parse(body).RootElement.GetProperty("state").GetString());

        // The shards in flight at the cancel may still complete; then the worker's pass over the job ends (its claims
        // answer nothing) and its heartbeat clears the job from its row.
        await using var conn = await Sql.OpenAsync(db);
        await WaitUntilAsync(conn, "SELECT count(*) = 0 FROM shards WHERE state = 'leased'", "shards of the cancelled job stay leased", silo, a);
        await WaitUntilAsync(conn, "SELECT current_job_id IS NULL FROM workers WHERE id = 'worker-a'", "worker A never left the cancelled job", silo, a);
        var claimedBefore = await Sql.ScalarOrDefaultAsync<long>(conn, "SELECT coalesce(sum(attempts), 0) FROM shards");

        // One more idle poll of the worker (2 s) plus a margin: nothing of the job is claimed again.
        await Task.Delay(TimeSpan.FromSeconds(3));
        Assert.Equal(claimedBefore, await Sql.ScalarOrDefaultAsync<long>(conn, "SELECT coalesce(sum(attempts), 0) FROM shards"));
        Assert.True(await Sql.ScalarOrDefaultAsync<long>(conn, "SELECT count(*) FROM shards WHERE state = 'queued'") > 0, "every shard was done: the cancel came too late to test anything");
        var job = (await client.TryGetJobAsync(id))!.Value;
        Assert.Equal("cancelled", job.GetProperty("state").GetString());
        Assert.True(SiloClient.Count(job, "pending") > 0, job.ToString());
        Assert.True(SiloClient.Count(job, "done") < 16, job.ToString());

        var (again, text) = await client.PostAsync($"api/jobs/{id}/cancel");
        Assert.True(again == HttpStatusCode.Conflict, $"a second cancel answered {(int)again}: {text}");
        Assert.False(a.HasExited, "worker A exited:\n" + a.Output);
    }

    [Fact]
    public async Task Retry_failed_redoes_a_failed_video_once_its_file_is_fixed()
    {
        var (container, input) = await fixture.UploadAsync(2, new Dictionary<string, byte[]> { ["late.mp4"] = "not a video yet"u8.ToArray() });
        using var cluster = await fixture.StartClusterAsync();
        var (port, silo) = (cluster.Port, cluster.Silo);
        using var client = new SiloClient(port);
        using var a = cluster.AddWorker("worker-a");
        var id = await client.SubmitAsync(DistributedFixture.JobSpec(container, shardSize: 2, maxAttempts: 2));
        var job = await client.WaitForJobAsync(id, j => SiloClient.IsFinished(j) && j.GetProperty("manifestWritten").GetBoolean(), JobTimeout, silo, a);
        Assert.Equal("completed_with_failures", job.GetProperty("state").GetString());
        Assert.Equal(2, SiloClient.Count(job, "done"));
        Assert.Equal(1, SiloClient.Count(job, "failed"));

        // Replace the bad file with a real (new) video, then retry the job's failures.
        var good = TestVideos.MakeMp4(Path.Combine(Path.GetTempPath(), $"tempme-late-{Guid.NewGuid():N}.mp4"), 1, hue: 200);
        try
        {
            await using var stream = File.OpenRead(good);
            await input.WriteAsync("late.mp4", stream, CancellationToken.None);
        }
        finally
        {
            File.Delete(good);
        }

        var (status, body) = await client.PostAsync($"api/jobs/{id}/retry-failed");
        Assert.True(status == HttpStatusCode.OK, $"retry-failed answered {(int)status}: {body}");
        Assert.Equal(1, JsonDocument.Parse(body).RootElement.GetProperty("requeued").GetInt64());

        job = await client.WaitForJobAsync(id, j => j.GetProperty("state").GetString() == "completed" && j.GetProperty("manifestWritten").GetBoolean(), JobTimeout, silo, a);
        Assert.Equal(3, SiloClient.Count(job, "done"));
        Assert.Equal(0, SiloClient.Count(job, "failed"));
        Assert.Equal(0, SiloClient.Count(job, "pending"));
        Assert.Empty(JsonDocument.Parse(await client.Http.GetStringAsync($"api/jobs/{id}/failures")).RootElement.EnumerateArray());

        var sources = await fixture.ReadOutputSourcesAsync(container);
        Assert.Equal(3, sources.Count);
        Assert.Equal(3, sources.Distinct(StringComparer.Ordinal).Count());
        Assert.Contains(sources, s => s.EndsWith("in/late.mp4", StringComparison.Ordinal));
        var index = JsonDocument.Parse((await fixture.ReadOutputTextAsync(container, "index.json"))!).RootElement;
        Assert.Equal(3, index.GetProperty("counts").GetProperty("indexed").GetInt64());
        Assert.DoesNotContain("late.mp4", await fixture.ReadOutputTextAsync(container, "failures.jsonl") ?? "", StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_workers_row_shows_the_shard_held_the_heartbeat_and_the_split_of_time()
    {
        var (container, _) = await fixture.UploadAsync(4);
        using var cluster = await fixture.StartClusterAsync();
        var (db, port, silo) = (cluster.Database, cluster.Port, cluster.Silo);
        using var client = new SiloClient(port);
        using var a = cluster.AddWorker("worker-a");
        var id = await client.SubmitAsync(DistributedFixture.JobSpec(container, shardSize: 2));

        // While it works: the row names the job and a shard that this worker holds right now (one snapshot), and the
        // heartbeat is fresh.
        await using var conn = await Sql.OpenAsync(db);
        var deadline = DateTime.UtcNow + JobTimeout;
        while (true)
        {
            await using var cmd = new NpgsqlCommand("""
                SELECT w.current_job_id, w.current_part, s.state, s.lease_owner, extract(epoch FROM now() - w.last_heartbeat)::float8, w.current_shard, w.current_job
                FROM workers w LEFT JOIN shards s ON s.job_id = w.current_job_id AND s.id = w.current_part
                WHERE w.id = 'worker-a'
                """, conn);
            await using var reader = await cmd.ExecuteReaderAsync();
            if (await reader.ReadAsync() && !reader.IsDBNull(1))
            {
                Assert.Equal(id, reader.GetString(0));
                Assert.InRange(reader.GetInt64(1), 0, 1);
                Assert.Equal("leased", reader.GetString(2));
                Assert.Equal("worker-a", reader.GetString(3));
                Assert.InRange(reader.GetDouble(4), -1, 10);
                Assert.Equal(reader.GetInt64(1), reader.GetInt64(5));
                Assert.Equal(id, reader.GetString(6));
                break;
            }

            Assert.True(DateTime.UtcNow < deadline, "worker A's row never showed a shard:\n" + SiloClient.Dump([silo, a]));
            await Task.Delay(50);
        }

        await client.WaitForJobAsync(id, SiloClient.IsFinished, JobTimeout, silo, a);

        // After the job: the next heartbeat (every 2 s) carries the totals, and no shard is held.
        await WaitUntilAsync(conn, "SELECT videos_done = 4 AND current_job_id IS NULL FROM workers WHERE id = 'worker-a'", "worker A's row never showed the finished job's totals", silo, a);
        await using (var cmd = new NpgsqlCommand("""
            SELECT current_part, shards_done, videos_failed, download_seconds, decode_seconds, encode_seconds, upload_seconds, extract(epoch FROM now() - last_heartbeat)::float8
            FROM workers WHERE id = 'worker-a'
            """, conn))
        await using (var reader = await cmd.ExecuteReaderAsync())
        {
            Assert.True(await reader.ReadAsync());
            Assert.True(reader.IsDBNull(0), "a shard is still shown after the job finished");
            Assert.Equal(2, reader.GetInt64(1));
            Assert.Equal(0, reader.GetInt64(2));
            Assert.True(reader.GetDouble(3) > 0, "download_seconds is 0");
            Assert.True(reader.GetDouble(4) > 0, "decode_seconds is 0");
            Assert.True(reader.GetDouble(5) > 0, "encode_seconds is 0");
            Assert.True(reader.GetDouble(6) > 0, "upload_seconds is 0");
            Assert.InRange(reader.GetDouble(7), -1, 10);
        }
    }

    private static async Task WaitUntilAsync(NpgsqlConnection conn, string sql, string failure, params TempmeProcess[] processes)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (!await Sql.ScalarOrDefaultAsync<bool>(conn, sql))
        {
            Assert.True(DateTime.UtcNow < deadline, failure + ":\n" + SiloClient.Dump(processes));
            await Task.Delay(100);
        }
    }
}

using System.Text.Json;

namespace TempMe.Pipeline.Distributed.Tests;

/// <summary>
/// "Completed" means the output is whole: a job turns terminal only once <c>index.json</c> and <c>failures.jsonl</c> are
/// written, stays <c>finalizing</c> while they cannot be, and <c>tempme submit --wait</c> returns only then.
/// </summary>
[Collection(DistributedCollection.Name)]
public sealed class FinalizingTests(DistributedFixture fixture)
{
    private static readonly TimeSpan JobTimeout = TimeSpan.FromSeconds(150);
    private static readonly byte[] Broken = "this is not a video"u8.ToArray();

    [Fact]
    public async Task Index_and_failures_are_whole_the_moment_each_job_turns_terminal()
    {
        const int jobs = 5;
        using var cluster = await fixture.StartClusterAsync();
        var (port, silo) = (cluster.Port, cluster.Silo);
        using var client = new SiloClient(port);
        using var a = cluster.AddWorker("worker-a");
        var containers = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 0; i < jobs; i++)
        {
            var (container, _) = await fixture.UploadAsync(2, new Dictionary<string, byte[]> { ["broken.mp4"] = Broken });
            containers[await client.SubmitAsync(Spec(container, "out"))] = container;
        }

        // Poll as a script would and read the output the moment a job says it is finished.
        var problems = new List<string>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var deadline = DateTime.UtcNow + JobTimeout;
        while (seen.Count < jobs)
        {
            Assert.True(DateTime.UtcNow < deadline, $"only {seen.Count} of {jobs} jobs finished:\n" + SiloClient.Dump([silo, a]));
            foreach (var job in JsonDocument.Parse(await client.Http.GetStringAsync("api/jobs")).RootElement.EnumerateArray())
            {
                var id = job.GetProperty("id").GetString()!;
                if (!containers.TryGetValue(id, out var container) || seen.Contains(id) || !SiloClient.IsFinished(job))
                {
                    continue;
                }

                var index = await fixture.ReadOutputTextAsync(container, "index.json");
                var failures = await fixture.ReadOutputTextAsync(container, "failures.jsonl");
                seen.Add(id);
                var problem = WholeOutputProblem(job, index, failures);
                if (problem is not null)
                {
                    problems.Add($"{id}: {problem}");
                }
            }

            await Task.Delay(10);
        }

        Assert.True(problems.Count == 0, string.Join("\n", problems));
    }

    [Fact]
    public async Task A_manifest_that_cannot_be_written_keeps_the_job_finalizing_until_storage_is_back()
    {
        using var cluster = await fixture.StartClusterAsync(silo: (database, httpPort) => fixture.Start(["silo", "--db", database, "--urls", $"http://127.0.0.1:{httpPort}", "--lease-sweep-seconds", "1", "--allowed-roots", DistributedFixture.LocalRoot, "--job-retry-seconds", "1"]));
        var (db, port, silo) = (cluster.Database, cluster.Port, cluster.Silo);
        using var client = new SiloClient(port);
        var (container, _) = await fixture.UploadAsync(2);

        // A folder where index.json must go: every write of the manifest fails (a real file-system error), parts still go.
        var output = Path.Combine(DistributedFixture.LocalRoot, $"final-{Guid.NewGuid():N}", "out");
        var blocker = Directory.CreateDirectory(Path.Combine(output, "index.json")).FullName;
        using var a = cluster.AddWorker("worker-a");
        var id = await client.SubmitAsync(new { source = DistributedFixture.Address(container, "in"), output, model = "random:vit-b32", shardSize = 4 });

        var job = await client.WaitForJobAsync(id, j => SiloClient.IsFinished(j) || j.GetProperty("state").GetString() == "finalizing", JobTimeout, silo, a);
        Assert.Equal("finalizing", job.GetProperty("state").GetString());
        Assert.Equal(2, SiloClient.Count(job, "done"));

        // It keeps trying with backoff and keeps saying why, never claiming to be finished.
        await using var conn = await Sql.OpenAsync(db);
        var tried = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (await Sql.ScalarOrDefaultAsync<int>(conn, $"SELECT consecutive_failures FROM jobs WHERE id = '{id}'") < 3)
        {
            Assert.True(DateTime.UtcNow < tried, "the manifest write was not retried:\n" + SiloClient.Dump([silo]));
            await Task.Delay(200);
        }

        job = (await client.TryGetJobAsync(id))!.Value;
        Assert.Equal("finalizing", job.GetProperty("state").GetString());
        Assert.False(job.GetProperty("manifestWritten").GetBoolean());
        Assert.Contains("cannot write index.json and failures.jsonl", job.GetProperty("message").GetString(), StringComparison.Ordinal);

        // Storage is back: the next try writes both files and only then the job is completed.
        Directory.Delete(blocker);
        job = await client.WaitForJobAsync(id, SiloClient.IsFinished, JobTimeout, silo, a);
        Assert.Equal("completed", job.GetProperty("state").GetString());
        Assert.True(job.GetProperty("manifestWritten").GetBoolean());
        Assert.False(job.TryGetProperty("message", out _), job.ToString());
        var index = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(output, "index.json"))).RootElement;
        Assert.Equal(2, index.GetProperty("counts").GetProperty("indexed").GetInt64());
        Assert.Equal("", await File.ReadAllTextAsync(Path.Combine(output, "failures.jsonl")));
    }

    [Fact]
    public async Task Submit_wait_returns_at_the_terminal_state_with_exit_0_for_completed_and_1_otherwise()
    {
        using var cluster = await fixture.StartClusterAsync();
        var (port, silo) = (cluster.Port, cluster.Silo);
        using var client = new SiloClient(port);
        using var a = cluster.AddWorker("worker-a");
        var (good, _) = await fixture.UploadAsync(2);
        var (broken, _) = await fixture.UploadAsync(1, new Dictionary<string, byte[]> { ["broken.mp4"] = Broken });
        var (unloadable, _) = await fixture.UploadAsync(1);
        var url = $"http://127.0.0.1:{port}";
        using var completed = fixture.Start(Submit(good, "random:vit-b32", url));
        using var withFailures = fixture.Start(Submit(broken, "random:vit-b32", url));
        using var failed = fixture.Start(Submit(unloadable, $"az://nomodel{Guid.NewGuid():N}"[..24] + "/ckpt", url));

        Assert.True(await completed.WaitAsync(JobTimeout) == 0, completed.Output);
        Assert.Contains("completed ", completed.Output, StringComparison.Ordinal);
        Assert.Contains("done 2  failed 0", completed.Output, StringComparison.Ordinal);
        Assert.True(await withFailures.WaitAsync(JobTimeout) == 1, withFailures.Output);
        Assert.Contains("completed_with_failures", withFailures.Output, StringComparison.Ordinal);
        Assert.Contains("done 1  failed 1", withFailures.Output, StringComparison.Ordinal);
        Assert.True(await failed.WaitAsync(JobTimeout) == 1, failed.Output);
        Assert.Contains(" failed ", failed.Output, StringComparison.Ordinal);
        Assert.Contains("cannot load the model", failed.Output, StringComparison.Ordinal);

        // The output is whole when --wait returns; status --watch of a finished job returns at once.
        Assert.NotNull(await fixture.ReadOutputTextAsync(good, "index.json"));
        Assert.NotNull(await fixture.ReadOutputTextAsync(broken, "failures.jsonl"));
        var id = completed.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).First(l => l.StartsWith("job-", StringComparison.Ordinal) && !l.Contains(' ', StringComparison.Ordinal));
        using var status = fixture.Start(["status", id, "--silo", url, "--watch"]);
        Assert.Equal(0, await status.WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.Contains("completed ", status.Output, StringComparison.Ordinal);
    }

    private static string[] Submit(string container, string model, string silo) =>
        ["submit", DistributedFixture.Address(container, "in"), "--out", DistributedFixture.Address(container, "out"), "--model", model, "--shard-size", "4", "--silo", silo, "--wait"];

    private static object Spec(string container, string output) => new
    {
        source = DistributedFixture.Address(container, "in"),
        output = DistributedFixture.Address(container, output),
        model = "random:vit-b32",
        frames = 12,
        shardSize = 4,
        maxAttempts = 1,
    };

    /// <summary>What is wrong with a finished job's output (2 clips and broken.mp4), or null when it is whole.</summary>
    private static string? WholeOutputProblem(JsonElement job, string? index, string? failures)
    {
        if (job.GetProperty("state").GetString() != "completed_with_failures")
        {
            return $"state {job.GetProperty("state").GetString()}";
        }

        if (index is null || failures is null)
        {
            return $"missing {(index is null ? "index.json " : "")}{(failures is null ? "failures.jsonl" : "")}";
        }

        var manifest = JsonDocument.Parse(index).RootElement;
        var counts = manifest.GetProperty("counts");
        if (counts.GetProperty("indexed").GetInt64() != 2 || counts.GetProperty("failed").GetInt64() != 1
            || manifest.GetProperty("parts").EnumerateArray().Sum(p => p.GetProperty("rows").GetInt32()) != 2)
        {
            return "index.json does not count 2 indexed and 1 failed: " + index;
        }

        var lines = failures.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        return lines.Length == 1 && lines[0].Contains("broken.mp4", StringComparison.Ordinal) ? null : "failures.jsonl is not the one broken video: " + failures;
    }
}

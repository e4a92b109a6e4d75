using System.Globalization;
using Npgsql;
using TempMe.Pipeline.Testing;
using Xunit.Abstractions;

namespace TempMe.Pipeline.Distributed.Tests;

/// <summary>
/// A worker silo whose encoder keeps both cores busy must stay a member of the cluster: the encoder runs outside the
/// Orleans scheduler and membership keeps its default settings, so probes are still answered.
/// </summary>
[Collection(DistributedCollection.Name)]
public sealed class SaturatedWorkerTests(DistributedFixture fixture, ITestOutputHelper output)
{
    private static readonly TimeSpan Window = TimeSpan.FromMinutes(5);

    [Fact]
    public async Task A_worker_silo_encoding_at_full_cpu_for_five_minutes_is_never_declared_dead()
    {
        var (container, _) = await fixture.UploadAsync(40);
        using var cluster = await fixture.StartClusterAsync(readyTimeout: TimeSpan.FromSeconds(60));
        var (db, silo) = (cluster.Database, cluster.Silo);
        using var client = new SiloClient(cluster.Port);
        using var worker = cluster.AddWorker("busy-worker", (database, workerId) => fixture.Start(["worker", "--db", database, "--lease-seconds", "600", "--heartbeat-seconds", "5", "--concurrency", "2", "--batch", "4", "--worker-id", workerId]));

        // ViT-B/16 at 48 frames: several seconds of matrix products per video on both cores, more than five minutes in all.
        var id = await client.SubmitAsync(new
        {
            source = DistributedFixture.Address(container, "in"),
            output = DistributedFixture.Address(container, "out"),
            model = "random:vit-b16",
            frames = 48,
            shardSize = 5,
            maxAttempts = 3,
        });
        await client.WaitForJobAsync(id, j => j.GetProperty("state").GetString() == "running", TimeSpan.FromSeconds(60), silo, worker);
        var joined = DateTime.UtcNow + TimeSpan.FromSeconds(120);
        while (!worker.Output.Contains($"Working on job {id}", StringComparison.Ordinal))
        {
            Assert.True(DateTime.UtcNow < joined, "the worker never started on the job:\n" + SiloClient.Dump([silo, worker]));
            await Task.Delay(200);
        }

        await using var conn = new NpgsqlConnection(db);
        await conn.OpenAsync();
        var cpuStart = CpuSeconds(worker.Id);
        var started = DateTime.UtcNow;
        var suspicions = 0;
        while (DateTime.UtcNow - started < Window)
        {
            await using (var cmd = new NpgsqlCommand("SELECT status, COALESCE(suspect_times, '') FROM orleans_membership WHERE silo_name = 'busy-worker' ORDER BY generation DESC LIMIT 1", conn))
            await using (var reader = await cmd.ExecuteReaderAsync())
            {
                Assert.True(await reader.ReadAsync(), "the worker silo is not in the membership table:\n" + worker.Output);
                var status = reader.GetInt32(0);
                Assert.True(status == 3, $"the worker silo's membership status became {status} (3 = Active, 6 = Dead) after {(DateTime.UtcNow - started).TotalSeconds:0} s at full CPU:\n" + SiloClient.Dump([silo, worker]));
                suspicions = Math.Max(suspicions, reader.GetString(1).Split('|', StringSplitOptions.RemoveEmptyEntries).Length);
            }

            Assert.False(worker.HasExited, "the worker exited:\n" + worker.Output);
            var job = await client.TryGetJobAsync(id);
            Assert.True(job is { } j && j.GetProperty("state").GetString() == "running", "the job ended before five minutes of encoding; it must keep the worker busy for the whole window:\n" + SiloClient.Dump([silo, worker]));
            await Task.Delay(TimeSpan.FromSeconds(1));
        }

        var cores = (CpuSeconds(worker.Id) - cpuStart) / (DateTime.UtcNow - started).TotalSeconds;
        output.WriteLine($"worker CPU over {Window.TotalMinutes} min: {cores:0.00} cores of {Environment.ProcessorCount}; most suspicions at once: {suspicions}");
        // The encoder runs one batch at a time: one core busy the whole window (1.08 cores measured in CI) is what a worker does.
        Assert.True(cores >= 0.9, $"the worker used only {cores:0.00} cores: the test did not keep the encoder busy");
        await client.PostAsync($"api/jobs/{id}/cancel");
    }

    // utime + stime of the process, from /proc/PID/stat (clock ticks of 100 Hz on Linux).
    private static double CpuSeconds(int pid)
    {
        var stat = File.ReadAllText($"/proc/{pid}/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return (long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture)) / 100.0;
    }
}

using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.RegularExpressions;
using Npgsql;
using TempMe.Pipeline.Testing;

namespace TempMe.Pipeline.Distributed.Tests;

/// <summary>
/// One bad job must not hurt the others: a source whose listing fails transiently, a model or output that cannot be
/// opened, and a second job aimed at an output already in use. Real silo and worker processes, PostgreSQL, Azurite.
/// </summary>
[Collection(DistributedCollection.Name)]
public sealed partial class JobIsolationTests(DistributedFixture fixture)
{
    private static readonly TimeSpan JobTimeout = TimeSpan.FromSeconds(150);

    /// <summary>Retry tuning for the tests: few attempts, short backoff (the defaults are minutes long).</summary>
    private static readonly string[] FastRetries = ["--job-setup-attempts", "6", "--job-retry-seconds", "1"];

    [Fact]
    public async Task A_job_whose_listing_fails_transiently_blocks_neither_later_jobs_nor_the_lease_sweeper()
    {
        // The storage account the silo is configured with answers nothing (no listener on that loopback port): listing an
        // az:// source gets "connection refused", a transient fault, on every try.
        var deadStorage = BlobEndpointPattern().Replace(fixture.BlobConnection, $"BlobEndpoint=http://127.0.0.1:{DistributedFixture.FreePort()}/devstoreaccount1");
        using var cluster = await fixture.StartClusterAsync(
            silo: (database, httpPort) => Start(deadStorage, ["silo", "--db", database, "--urls", $"http://127.0.0.1:{httpPort}", "--lease-sweep-seconds", "1", "--allowed-roots", DistributedFixture.LocalRoot, .. FastRetries]),
            worker: (database, workerId) => Start(fixture.BlobConnection, ["worker", "--db", database, "--lease-seconds", "6", "--heartbeat-seconds", "2", "--concurrency", "1", "--worker-id", workerId]));
        var (db, silo) = (cluster.Database, cluster.Silo);
        using var client = new SiloClient(cluster.Port);

        var root = Path.Combine(DistributedFixture.LocalRoot, $"isolate-{Guid.NewGuid():N}");
        var bad = await client.SubmitAsync(new { source = $"az://gone{Guid.NewGuid():N}"[..24] + "/in", output = Path.Combine(root, "bad-out"), model = "random:vit-b32", shardSize = 2 });
        var good = await client.SubmitAsync(new { source = CopyClips(fixture.Videos, Path.Combine(root, "in"), 6), output = Path.Combine(root, "good-out"), model = "random:vit-b32", shardSize = 3 });

        // A worker takes a shard of the good job (so the bad job's listing did not stop the good one's) and dies holding it.
        await using var conn = await Sql.OpenAsync(db);
        using (var a = cluster.AddWorker("worker-a"))
        {
            var deadline = DateTime.UtcNow + JobTimeout;
            while (await Sql.ScalarOrDefaultAsync<long>(conn, $"SELECT count(*) FROM shards WHERE job_id = '{good}' AND state = 'leased' AND lease_owner = 'worker-a'") == 0
                   || await Sql.ScalarOrDefaultAsync<long>(conn, $"SELECT count(*) FROM videos WHERE job_id = '{good}' AND state = 'done'") < 1)
            {
                Assert.True(DateTime.UtcNow < deadline, "the good job never got a worker (was it ever listed?):\n" + SiloClient.Dump([silo, a]));
                await Task.Delay(100);
            }

            a.KillHard();
        }

        // With no worker left, only the silo's sweeper can take the dead worker's lease back (and charge its videos).
        var swept = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (await Sql.ScalarOrDefaultAsync<long>(conn, $"SELECT count(*) FROM shards WHERE job_id = '{good}' AND state = 'leased'") > 0
               || await Sql.ScalarOrDefaultAsync<long>(conn, $"SELECT count(*) FROM videos WHERE job_id = '{good}' AND error_code = 'lease_expired'") == 0)
        {
            Assert.True(DateTime.UtcNow < swept, "the expired lease was never swept:\n" + SiloClient.Dump([silo]));
            await Task.Delay(200);
        }

        using var b = cluster.AddWorker("worker-b");
        var done = await client.WaitForJobAsync(good, SiloClient.IsFinished, JobTimeout, silo, b);
        Assert.Equal("completed", done.GetProperty("state").GetString());
        Assert.Equal(6, SiloClient.Count(done, "done"));

        // The bad job gave up after its bounded retries, saying why.
        var failed = await client.WaitForJobAsync(bad, SiloClient.IsFinished, JobTimeout, silo, b);
        Assert.Equal("failed", failed.GetProperty("state").GetString());
        var message = failed.GetProperty("message").GetString()!;
        Assert.Contains("cannot list the source", message, StringComparison.Ordinal);
        Assert.Contains("6 times", message, StringComparison.Ordinal);
        Assert.DoesNotContain("AccountKey", silo.Output, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task Jobs_whose_model_or_output_cannot_be_opened_fail_clearly_and_a_later_job_completes()
    {
        using var cluster = await fixture.StartClusterAsync();
        var (db, port, silo) = (cluster.Database, cluster.Port, cluster.Silo);
        using var client = new SiloClient(port);
        var root = Path.Combine(DistributedFixture.LocalRoot, $"poison-{Guid.NewGuid():N}");
        var source = CopyClips(fixture.Videos, Path.Combine(root, "in"), 4);
        await File.WriteAllTextAsync(Path.Combine(root, "a-file"), "not a folder");

        // Submitted first: a model and an output in a blob store the worker cannot reach (transient: retried with
        // backoff, then failed), and an output folder below a regular file (permanent: failed at once).
        var badModel = await client.SubmitAsync(new { source, output = Path.Combine(root, "model-out"), model = $"az://nomodel{Guid.NewGuid():N}"[..24] + "/ckpt", shardSize = 2 });
        var badBlobOutput = await client.SubmitAsync(new { source, output = $"az://noout{Guid.NewGuid():N}"[..24] + "/out", model = "random:vit-b32", shardSize = 2 });
        var badFolderOutput = await client.SubmitAsync(new { source, output = Path.Combine(root, "a-file", "out"), model = "random:vit-b32", shardSize = 2 });
        var good = await client.SubmitAsync(new { source, output = Path.Combine(root, "good-out"), model = "random:vit-b32", shardSize = 2 });

        var deadStorage = BlobEndpointPattern().Replace(fixture.BlobConnection, $"BlobEndpoint=http://127.0.0.1:{DistributedFixture.FreePort()}/devstoreaccount1");
        using var a = cluster.AddWorker("worker-a", (database, workerId) => Start(deadStorage, ["worker", "--db", database, "--lease-seconds", "6", "--heartbeat-seconds", "2", "--concurrency", "1", "--worker-id", workerId, .. FastRetries]));
        var done = await client.WaitForJobAsync(good, SiloClient.IsFinished, JobTimeout, silo, a);
        Assert.Equal("completed", done.GetProperty("state").GetString());
        Assert.Equal(4, SiloClient.Count(done, "done"));

        var folder = await client.WaitForJobAsync(badFolderOutput, SiloClient.IsFinished, JobTimeout, silo, a);
        Assert.Equal("failed", folder.GetProperty("state").GetString());
        Assert.Contains("cannot open the output", folder.GetProperty("message").GetString(), StringComparison.Ordinal);

        foreach (var (id, what) in new[] { (badModel, "cannot load the model"), (badBlobOutput, "cannot open the output") })
        {
            var job = await client.WaitForJobAsync(id, SiloClient.IsFinished, JobTimeout, silo, a);
            Assert.Equal("failed", job.GetProperty("state").GetString());
            var message = job.GetProperty("message").GetString()!;
            Assert.Contains(what, message, StringComparison.Ordinal);
            Assert.Contains("6 times", message, StringComparison.Ordinal);
            Assert.Equal(0, SiloClient.Count(job, "done"));
        }

        Assert.False(a.HasExited, "the worker exited:\n" + a.Output);
        Assert.DoesNotContain("AccountKey", a.Output, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task A_second_active_job_on_the_same_or_a_nested_output_is_refused_with_409()
    {
        using var cluster = await fixture.StartClusterAsync();
        var port = cluster.Port;
        using var client = new SiloClient(port);
        var (container, _) = await fixture.UploadAsync(1);
        var source = DistributedFixture.Address(container, "in");
        var output = DistributedFixture.Address(container, "runs/one");

        var first = await client.SubmitAsync(new { source, output, model = "random:vit-b32" });
        var sameInOtherForms = new List<string> { output + "/", DistributedFixture.Address(container, "runs/one/nested"), DistributedFixture.Address(container, "runs") };
        if (!DistributedFixture.UseLocalStorage)
        {
            sameInOtherForms.Add($"az://{container}/runs/one");
        }

        foreach (var clash in sameInOtherForms)
        {
            using var response = await Post(client, new { source, output = clash, model = "random:vit-b32" });
            var body = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == HttpStatusCode.Conflict, $"output {clash} answered {(int)response.StatusCode}: {body}");
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
            var detail = JsonDocument.Parse(body).RootElement.GetProperty("detail").GetString()!;
            Assert.Contains(first, detail, StringComparison.Ordinal);
            Assert.Contains("another --out", detail, StringComparison.Ordinal);
        }

        // A sibling whose name merely starts the same is another output; so is the same output once the first job is over.
        await client.SubmitAsync(new { source, output = DistributedFixture.Address(container, "runs/one-more"), model = "random:vit-b32" });
        var (cancelled, text) = await client.PostAsync($"api/jobs/{first}/cancel");
        Assert.True(cancelled == HttpStatusCode.OK, text);
        await client.SubmitAsync(new { source, output, model = "random:vit-b32" });
    }

    private static async Task<HttpResponseMessage> Post(SiloClient client, object body)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "api/jobs") { Content = JsonContent.Create(body) };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", DistributedFixture.Token);
        return await client.Http.SendAsync(request);
    }

    /// <summary>Copies the first <paramref name="count"/> clips into a local folder (under the silo's allowed roots).</summary>
    internal static string CopyClips(string clips, string folder, int count)
    {
        Directory.CreateDirectory(folder);
        foreach (var file in Directory.EnumerateFiles(clips).Order(StringComparer.Ordinal).Take(count))
        {
            File.Copy(file, Path.Combine(folder, Path.GetFileName(file)));
        }

        return folder;
    }

    /// <summary>Starts tempme with the given storage connection string and the test API token.</summary>
    internal static TempmeProcess Start(string storage, string[] args) => new(args, new Dictionary<string, string?>
    {
        ["AZURE_STORAGE_CONNECTION_STRING"] = storage,
        ["TEMPME_API_TOKEN"] = DistributedFixture.Token,
        ["TEMPME_DB"] = null,
    });



    [GeneratedRegex("BlobEndpoint=[^;]*", RegexOptions.IgnoreCase)]
    private static partial Regex BlobEndpointPattern();
}

using System.Buffers.Binary;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text.Json;
using TempMe.Pipeline.Storage;
using TempMe.Pipeline.Testing;

namespace TempMe.Pipeline.Distributed.Tests;

/// <summary>
/// Where a job's model may come from (issue 11 items 4 and 16): only <c>random:</c>, the configured model roots, or a
/// blob prefix, whose <c>SHA256SUMS</c> may only name files of the prefix and whose size is capped. Real silo, worker,
/// PostgreSQL and Azurite.
/// </summary>
[Collection(DistributedCollection.Name)]
public sealed class ModelSourceTests(DistributedFixture fixture) : IDisposable
{
    private const string Secret = "ZEBRA-SECRET-hunter2:19000:0:99999:7:::\n";
    private static readonly TimeSpan JobTimeout = TimeSpan.FromSeconds(90);
    private readonly string _root = Directory.CreateTempSubdirectory("tempme-model-src-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    [Fact]
    public async Task A_job_whose_model_is_a_local_file_outside_the_worker_model_roots_fails_naming_the_roots()
    {
        var (roots, secret) = MakeRootsAndSecret();
        var link = Path.Combine(roots, "evil.safetensors");
        File.CreateSymbolicLink(link, secret);
        var (container, _) = await fixture.UploadAsync(1);
        using var cluster = await fixture.StartClusterAsync();
        var (db, port, silo) = (cluster.Database, cluster.Port, cluster.Silo);
        using var client = new SiloClient(port);
        using var worker = cluster.AddWorker("w-roots", (database, workerId) => fixture.Start(["worker", "--db", database, "--lease-seconds", "6", "--heartbeat-seconds", "2", "--concurrency", "1", "--worker-id", workerId, "--model-roots", roots]));

        // The secret itself, and a link inside the root that points at it: both refused before a byte is read.
        foreach (var model in new[] { secret, link })
        {
            var id = await client.SubmitAsync(Spec(container, model));
            var job = await client.WaitForJobAsync(id, SiloClient.IsFinished, JobTimeout, silo, worker);
            Assert.Equal("failed", job.GetProperty("state").GetString());
            var message = job.GetProperty("message").GetString() ?? "";
            Assert.Contains(roots, message, StringComparison.Ordinal);
            Assert.Contains("--model-roots", message, StringComparison.Ordinal);
            AssertNoSecret(message);
        }

        AssertNoSecret(worker.Output);
        Assert.False(worker.HasExited, worker.Output);
    }

    [Fact]
    public async Task A_worker_without_model_roots_refuses_every_local_model()
    {
        var (_, secret) = MakeRootsAndSecret();
        var (container, _) = await fixture.UploadAsync(1);
        using var cluster = await fixture.StartClusterAsync();
        var (port, silo) = (cluster.Port, cluster.Silo);
        using var client = new SiloClient(port);
        using var worker = cluster.AddWorker("w-no-roots");
        var id = await client.SubmitAsync(Spec(container, secret));
        var job = await client.WaitForJobAsync(id, SiloClient.IsFinished, JobTimeout, silo, worker);
        Assert.Equal("failed", job.GetProperty("state").GetString());
        var message = job.GetProperty("message").GetString() ?? "";
        Assert.Contains("--model-roots", message, StringComparison.Ordinal);
        AssertNoSecret(message);
    }

    [Fact]
    public async Task Submit_refuses_a_local_model_outside_the_silo_model_roots()
    {
        var (roots, secret) = MakeRootsAndSecret();
        var link = Path.Combine(roots, "evil.safetensors");
        File.CreateSymbolicLink(link, secret);
        var inside = Path.Combine(roots, "model.safetensors");
        File.WriteAllBytes(inside, new byte[16]);
        using var cluster = await fixture.StartClusterAsync(silo: (database, httpPort) => fixture.Start(["silo", "--db", database, "--urls", $"http://127.0.0.1:{httpPort}", "--allowed-roots", DistributedFixture.LocalRoot, "--model-roots", roots]));
        var port = cluster.Port;
        using var client = new SiloClient(port);
        var source = DistributedFixture.Address("somecontainer", "in");
        var output = DistributedFixture.Address("somecontainer", "out");
        if (DistributedFixture.UseLocalStorage)
        {
            Directory.CreateDirectory(source);
        }

        foreach (var model in new[] { secret, link, "/etc/passwd" })
        {
            using var response = await PostAsync(client, new { source, output, model });
            var body = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"{model}: {(int)response.StatusCode} {body}");
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
            var error = string.Join(" ", JsonDocument.Parse(body).RootElement.GetProperty("errors").GetProperty("model").EnumerateArray().Select(e => e.GetString()));
            Assert.Contains(roots, error, StringComparison.Ordinal);
            Assert.Contains("--model-roots", error, StringComparison.Ordinal);
        }

        foreach (var model in new[] { inside, "random:vit-b32", $"{DistributedFixture.BlobEndpoint}/models/clip/" })
        {
            using var response = await PostAsync(client, new { source, output = DistributedFixture.Address("somecontainer", $"out-{Guid.NewGuid():N}"), model });
            Assert.True(response.StatusCode == HttpStatusCode.Accepted, $"{model}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        }
    }

    [Fact]
    public async Task A_sha256sums_entry_naming_a_file_outside_the_model_prefix_fails_the_job()
    {
        // A local file whose hash the attacker knows: the absolute entry made the worker hash it (and accept it when it
        // matched, or print the hash of any local file when it did not).
        var outside = Path.Combine(_root, "outside.bin");
        File.WriteAllText(outside, Secret);
        var hash = Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(outside)));
        var relative = Path.GetRelativePath("/tmp/tempme-models/0123456789abcdef", outside);
        var (container, _) = await fixture.UploadAsync(1);
        using var cluster = await fixture.StartClusterAsync();
        var (port, silo) = (cluster.Port, cluster.Silo);
        using var client = new SiloClient(port);
        using var worker = cluster.AddWorker("w-sums");
        foreach (var (prefix, entry) in new[] { ("abs/", outside), ("dots/", relative), ("dots2/", "sub/../../x") })
        {
            var model = await UploadModelAsync(container, prefix, new Dictionary<string, byte[]>
            {
                ["model.safetensors"] = new byte[64],
                ["SHA256SUMS"] = System.Text.Encoding.UTF8.GetBytes($"{hash}  {entry}\n"),
            });
            var id = await client.SubmitAsync(Spec(container, model));
            var job = await client.WaitForJobAsync(id, SiloClient.IsFinished, JobTimeout, silo, worker);
            Assert.Equal("failed", job.GetProperty("state").GetString());
            var message = job.GetProperty("message").GetString() ?? "";
            Assert.Contains("SHA256SUMS", message, StringComparison.Ordinal);
            Assert.Contains("relative", message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task A_model_prefix_larger_than_the_download_cap_fails_the_job_naming_the_option()
    {
        var (container, _) = await fixture.UploadAsync(1);
        var model = await UploadModelAsync(container, "big/", new Dictionary<string, byte[]> { ["model.safetensors"] = new byte[64 * 1024] });
        using var cluster = await fixture.StartClusterAsync();
        var (db, port, silo) = (cluster.Database, cluster.Port, cluster.Silo);
        using var client = new SiloClient(port);
        using var worker = cluster.AddWorker("w-cap", (database, workerId) => fixture.Start(["worker", "--db", database, "--lease-seconds", "6", "--heartbeat-seconds", "2", "--concurrency", "1", "--worker-id", workerId, "--max-model-bytes", "4096"]));
        var id = await client.SubmitAsync(Spec(container, model));
        var job = await client.WaitForJobAsync(id, SiloClient.IsFinished, JobTimeout, silo, worker);
        Assert.Equal("failed", job.GetProperty("state").GetString());
        var message = job.GetProperty("message").GetString() ?? "";
        Assert.Contains("--max-model-bytes", message, StringComparison.Ordinal);
        Assert.Contains("4096", message, StringComparison.Ordinal);
    }

    private (string Roots, string Secret) MakeRootsAndSecret()
    {
        var roots = Directory.CreateDirectory(Path.Combine(_root, "models")).FullName;
        var secret = Path.Combine(Directory.CreateDirectory(Path.Combine(_root, "etc")).FullName, "shadow");
        File.WriteAllText(secret, Secret + Secret);
        return (roots, secret);
    }

    private static void AssertNoSecret(string text)
    {
        var head = System.Text.Encoding.ASCII.GetBytes(Secret).AsSpan(0, 8);
        Assert.DoesNotContain("SECRET", text, StringComparison.Ordinal);
        Assert.DoesNotContain(BinaryPrimitives.ReadUInt64LittleEndian(head).ToString(CultureInfo.InvariantCulture), text, StringComparison.Ordinal);
    }

    /// <summary>Uploads files under <c>models/PREFIX</c> of the container in Azurite; returns the prefix's address.</summary>
    private async Task<string> UploadModelAsync(string container, string prefix, IReadOnlyDictionary<string, byte[]> files)
    {
        var store = AzureBlobStore.FromConnectionString(fixture.BlobConnection, container, "models/" + prefix);
        await BlobStoreFactory.EnsureExistsAsync(store, CancellationToken.None);
        foreach (var (name, bytes) in files)
        {
            using var stream = new MemoryStream(bytes);
            await store.WriteAsync(name, stream, CancellationToken.None);
        }

        return $"{DistributedFixture.BlobEndpoint.TrimEnd('/')}/{container}/models/{prefix}";
    }

    private static object Spec(string container, string model) => new
    {
        source = DistributedFixture.Address(container, "in"),
        output = DistributedFixture.Address(container, $"out-{Guid.NewGuid():N}"[..12]),
        model,
        frames = 4,
        shardSize = 1,
        maxAttempts = 1,
    };

    private static async Task<HttpResponseMessage> PostAsync(SiloClient client, object body)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "api/jobs") { Content = JsonContent.Create(body) };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", DistributedFixture.Token);
        return await client.Http.SendAsync(request);
    }
}

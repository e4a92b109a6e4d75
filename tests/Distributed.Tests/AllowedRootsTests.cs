using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using TempMe.Pipeline.Testing;

namespace TempMe.Pipeline.Distributed.Tests;

/// <summary>
/// A real silo (with --allowed-roots) and worker: list-file entries and links that lead out of the roots are failures
/// with their own code and are never opened; the good entries are embedded.
/// </summary>
[Collection(DistributedCollection.Name)]
public sealed class AllowedRootsTests(DistributedFixture fixture) : IDisposable
{
    private static readonly TimeSpan JobTimeout = TimeSpan.FromSeconds(150);

    /// <summary>A private folder outside the silo's allowed root.</summary>
    private readonly string _outside = Directory.CreateTempSubdirectory("tempme-outside-").FullName;

    /// <summary>This test's folder under the allowed root.</summary>
    private readonly string _inside = Path.Combine(DistributedFixture.LocalRoot, $"roots-{Guid.NewGuid():N}"[..20]);

    public void Dispose()
    {
        foreach (var folder in new[] { _outside, _inside }.Where(Directory.Exists))
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public async Task Entries_leading_out_of_the_roots_are_failures_with_their_code_and_good_entries_are_done()
    {
        var secret = TestVideos.MakeMp4(Path.Combine(_outside, "private.mp4"), 1, hue: 30);
        TestVideos.MakeMp4(Path.Combine(_outside, "private-folder", "hidden.mp4"), 1, hue: 60);
        var input = Path.Combine(_inside, "in");
        TestVideos.MakeMp4(Path.Combine(input, "good.mp4"), 1, hue: 90);
        TestVideos.MakeMp4(Path.Combine(_inside, "elsewhere", "other.mp4"), 1, hue: 120);
        File.CreateSymbolicLink(Path.Combine(input, "inside-link.mp4"), Path.Combine(_inside, "elsewhere", "other.mp4"));
        File.CreateSymbolicLink(Path.Combine(input, "escape.mp4"), secret);
        File.CreateSymbolicLink(Path.Combine(input, "escape-folder"), Path.Combine(_outside, "private-folder"));
        var list = Path.Combine(_inside, "list.txt");
        File.WriteAllLines(list, ["in/good.mp4", secret, "/etc/hostname", "../../../../../../../etc/passwd"]);
        File.CreateSymbolicLink(Path.Combine(_inside, "linked-source"), _outside);
        File.CreateSymbolicLink(Path.Combine(_inside, "linked-out"), _outside);

        using var cluster = await fixture.StartClusterAsync();
        var (port, silo) = (cluster.Port, cluster.Silo);
        using var client = new SiloClient(port);
        using var worker = cluster.AddWorker("worker-roots");

        // The source or output itself a link out of the root: refused at submit, naming the field.
        await AssertRefusedAsync(client, new { source = Path.Combine(_inside, "linked-source"), output = Path.Combine(_inside, "out0"), model = "random:vit-b32" }, "source");
        await AssertRefusedAsync(client, new { source = input, output = Path.Combine(_inside, "linked-out", "out"), model = "random:vit-b32" }, "output");

        var folderJob = await client.SubmitAsync(new { source = input, output = Path.Combine(_inside, "out1"), model = "random:vit-b32", shardSize = 2 });
        var listJob = await client.SubmitAsync(new { source = list, output = Path.Combine(_inside, "out2"), model = "random:vit-b32", shardSize = 2 });
        var folder = await client.WaitForJobAsync(folderJob, j => SiloClient.IsFinished(j) && j.GetProperty("manifestWritten").GetBoolean(), JobTimeout, silo, worker);
        var listed = await client.WaitForJobAsync(listJob, j => SiloClient.IsFinished(j) && j.GetProperty("manifestWritten").GetBoolean(), JobTimeout, silo, worker);

        Assert.Equal("completed_with_failures", folder.GetProperty("state").GetString());
        Assert.Equal(2, SiloClient.Count(folder, "done"));
        await AssertRefusedEntriesAsync(client, folderJob, Path.Combine(_inside, "out1"), [Path.Combine(input, "escape-folder"), Path.Combine(input, "escape.mp4")]);
        Assert.Equal(
            [Path.Combine(_inside, "elsewhere", "other.mp4"), Path.Combine(input, "good.mp4")],
            ReadSources(Path.Combine(_inside, "out1")).Order(StringComparer.Ordinal).ToArray());

        Assert.Equal("completed_with_failures", listed.GetProperty("state").GetString());
        Assert.Equal(1, SiloClient.Count(listed, "done"));
        await AssertRefusedEntriesAsync(client, listJob, Path.Combine(_inside, "out2"), ["/etc/hostname", "/etc/passwd", secret]);
        Assert.Equal([Path.Combine(input, "good.mp4")], ReadSources(Path.Combine(_inside, "out2")));

        // Retrying failures must not turn a refused entry into one a worker opens.
        var (status, body) = await client.PostAsync($"api/jobs/{listJob}/retry-failed");
        Assert.True(status == HttpStatusCode.OK, $"retry answered {(int)status}: {body}");
        Assert.Equal(0, JsonDocument.Parse(body).RootElement.GetProperty("requeued").GetInt64());
        var after = await client.WaitForJobAsync(listJob, SiloClient.IsFinished, JobTimeout, silo, worker);
        Assert.Equal(3, SiloClient.Count(after, "failed"));
        Assert.Equal(0, SiloClient.Count(after, "pending"));
    }

    [Fact]
    public async Task A_blob_url_naming_the_account_on_another_host_is_refused_at_submit_and_never_sent_the_key()
    {
        using var impostor = new CapturingListener();
        var account = DistributedFixture.BlobEndpoint.TrimEnd('/').Split('/')[^1];
        var evil = $"http://127.0.0.1:{impostor.Port}/{account}/stolen/in";
        using var cluster = await fixture.StartClusterAsync();
        var (port, silo) = (cluster.Port, cluster.Silo);
        using var client = new SiloClient(port);

        var detail = await AssertRefusedAsync(client, new { source = evil, output = DistributedFixture.Address("anycontainer", "out"), model = "random:vit-b32" }, "source");
        Assert.Contains("only sent to its own endpoint", detail, StringComparison.Ordinal);

        // The CLI says the same and exits 2 (bad input).
        using var submit = fixture.Start(["submit", evil, "--out", DistributedFixture.Address("anycontainer", "out"), "--model", "random:vit-b32", "--silo", $"http://127.0.0.1:{port}"]);
        Assert.Equal(2, await submit.WaitAsync(TimeSpan.FromSeconds(60)));
        Assert.Contains("only sent to its own endpoint", submit.Output, StringComparison.Ordinal);

        // Give a wrongly accepted job time to be listed: the impostor must never have been contacted.
        await Task.Delay(TimeSpan.FromSeconds(3));
        Assert.All(impostor.Requests, head => Assert.DoesNotContain("SharedKey", head, StringComparison.OrdinalIgnoreCase));
        Assert.Equal(0, impostor.Connections);
    }

    private static async Task AssertRefusedEntriesAsync(SiloClient client, string jobId, string output, string[] expectedSources)
    {
        var failures = JsonDocument.Parse(await client.Http.GetStringAsync($"api/jobs/{jobId}/failures")).RootElement.EnumerateArray().ToList();
        Assert.Equal(expectedSources, failures.Select(f => f.GetProperty("source").GetString()!).ToArray());
        Assert.All(failures, f => Assert.Equal("outside_allowed_roots", f.GetProperty("error_code").GetString()));
        Assert.All(failures, f => Assert.Equal(0, f.GetProperty("attempts").GetInt32()));
        Assert.All(failures, f => Assert.Contains("--allowed-roots", f.GetProperty("message").GetString(), StringComparison.Ordinal));
        var file = File.ReadAllLines(Path.Combine(output, "failures.jsonl")).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.Equal(expectedSources, file.Select(f => f.GetProperty("source").GetString()!).ToArray());
        Assert.All(file, f => Assert.Equal("outside_allowed_roots", f.GetProperty("error_code").GetString()));
    }

    private static List<string> ReadSources(string output) =>
        Directory.EnumerateFiles(Path.Combine(output, "embeddings"), "*.jsonl")
            .SelectMany(File.ReadAllLines)
            .Where(l => l.Length > 0)
            .Select(l => JsonDocument.Parse(l).RootElement.GetProperty("source").GetString()!)
            .ToList();

    private static async Task<string> AssertRefusedAsync(SiloClient client, object body, string field)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "api/jobs") { Content = JsonContent.Create(body) };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", DistributedFixture.Token);
        using var response = await client.Http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"expected 400 for {field}, got {(int)response.StatusCode}: {text}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var errors = JsonDocument.Parse(text).RootElement.GetProperty("errors");
        Assert.True(errors.TryGetProperty(field, out var messages), $"the problem does not name {field}: {text}");
        return messages[0].GetString()!;
    }
}

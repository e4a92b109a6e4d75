using System.Net;
using System.Text.Json;
using TempMe.Pipeline.Testing;

namespace TempMe.Pipeline.Distributed.Tests;

/// <summary><c>GET /api/jobs/{id}/search</c> on a real silo, worker, PostgreSQL and Azurite.</summary>
[Collection(DistributedCollection.Name)]
public sealed class SearchApiTests(DistributedFixture fixture)
{
    [Fact]
    public async Task A_finished_jobs_output_answers_text_searches_and_bad_requests_get_problem_details()
    {
        var (container, _) = await fixture.UploadAsync(6);

        // random:vit-b32 has no vocabulary beside it: the silo takes the CLIP one from the environment.
        var vocabulary = new Dictionary<string, string?> { ["TEMPME_CLIP_VOCAB"] = Path.Combine(RepoPaths.Shared, "reference", "clip-bpe") };
        using var cluster = await fixture.StartClusterAsync(silo: (database, httpPort) => fixture.StartSilo(database, httpPort, environment: vocabulary));
        var silo = cluster.Silo;
        using var client = new SiloClient(cluster.Port);

        var missing = await client.Http.GetAsync("api/jobs/nope/search?q=pasta");
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        Assert.Equal("application/problem+json", missing.Content.Headers.ContentType?.MediaType);

        var id = await client.SubmitAsync(new
        {
            source = DistributedFixture.Address(container, "in"),
            output = DistributedFixture.Address(container, "out"),
            model = "random:vit-b32",
            frames = 12,
            shardSize = 3,
            maxAttempts = 3,
        });

        // No worker yet: the job is not finished.
        var early = await client.Http.GetAsync($"api/jobs/{id}/search?q=pasta");
        Assert.Equal(HttpStatusCode.Conflict, early.StatusCode);
        Assert.Contains("completed", await early.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        using var worker = cluster.AddWorker("worker-a");
        await client.WaitForJobAsync(id, j => j.GetProperty("manifestWritten").GetBoolean(), TimeSpan.FromSeconds(150), silo, worker);

        var found = await client.Http.GetAsync($"api/jobs/{id}/search?q=a+man+is+cooking+pasta&k=4");
        var body = await found.Content.ReadAsStringAsync();
        Assert.True(found.StatusCode == HttpStatusCode.OK, body + SiloClient.Dump([silo, worker]));
        var hits = JsonDocument.Parse(body).RootElement.EnumerateArray().ToList();
        Assert.Equal(4, hits.Count);
        Assert.Equal([1, 2, 3, 4], hits.Select(h => h.GetProperty("rank").GetInt32()).ToArray());
        var scores = hits.Select(h => h.GetProperty("score").GetDouble()).ToList();
        Assert.Equal(scores.OrderByDescending(s => s).ToList(), scores);
        var sources = await fixture.ReadOutputSourcesAsync(container);
        Assert.All(hits, h => Assert.Contains(h.GetProperty("source").GetString(), sources));
        Assert.All(hits, h => Assert.Equal(12, h.GetProperty("timestamps_s").GetArrayLength()));

        // Each result names its thumbnail, served as an immutable JPEG from the job's output in Azurite.
        foreach (var hit in hits)
        {
            var sha = hit.GetProperty("content_sha256").GetString()!;
            Assert.Equal($"thumbnails/{sha[..2]}/{sha}.jpg", hit.GetProperty("thumbnail").GetString());
            using var image = await client.Http.GetAsync($"api/jobs/{id}/thumbnails/{sha}.jpg");
            var bytes = await image.Content.ReadAsByteArrayAsync();
            Assert.True(image.StatusCode == HttpStatusCode.OK, System.Text.Encoding.UTF8.GetString(bytes));
            Assert.Equal("image/jpeg", image.Content.Headers.ContentType?.MediaType);
            Assert.Contains("immutable", image.Headers.CacheControl?.ToString() ?? "", StringComparison.Ordinal);
            Assert.Equal([0xFF, 0xD8], bytes[..2]);
            Assert.Equal([0xFF, 0xD9], bytes[^2..]);
        }

        // Only SHA.jpg names a thumbnail: traversal and other names get problem details, never another file.
        var unknownSha = new string('0', 64);
        foreach (var (path, status) in new[]
        {
            ($"api/jobs/{id}/thumbnails/..%2F..%2Findex.json", HttpStatusCode.BadRequest),
            ($"api/jobs/{id}/thumbnails/..%2Findex.json", HttpStatusCode.BadRequest),
            ($"api/jobs/{id}/thumbnails/%2E%2E%2F%2E%2E%2Fembeddings%2Fpart-00000.jsonl", HttpStatusCode.BadRequest),
            ($"api/jobs/{id}/thumbnails/{new string('A', 64)}.jpg", HttpStatusCode.BadRequest),
            ($"api/jobs/{id}/thumbnails/{unknownSha}.png", HttpStatusCode.BadRequest),
            ($"api/jobs/{id}/thumbnails/{unknownSha}.jpg", HttpStatusCode.NotFound),
            ($"api/jobs/nope/thumbnails/{unknownSha}.jpg", HttpStatusCode.NotFound),
        })
        {
            using var answer = await client.Http.GetAsync(path);
            var text = await answer.Content.ReadAsStringAsync();
            Assert.True(answer.StatusCode == status, $"{path}: {(int)answer.StatusCode} {text}");
            Assert.Equal("application/problem+json", answer.Content.Headers.ContentType?.MediaType);
            Assert.DoesNotContain("tempme-index", text, StringComparison.Ordinal);
        }

        foreach (var (query, field) in new[] { ("q=", "q"), ("q=%20%20", "q"), ("q=pasta&k=0", "k"), ("q=pasta&k=101", "k"), ("q=pasta&k=ten", "k") })
        {
            var bad = await client.Http.GetAsync($"api/jobs/{id}/search?{query}");
            Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
            var problem = JsonDocument.Parse(await bad.Content.ReadAsStringAsync()).RootElement;
            Assert.True(problem.GetProperty("errors").TryGetProperty(field, out _), query);
        }

        Assert.Equal(0, await worker.TerminateAsync(TimeSpan.FromSeconds(20)));
    }
}

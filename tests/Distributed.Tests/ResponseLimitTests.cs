using System.Net;
using System.Text.Json;
using TempMe.Pipeline.Contracts;
using TempMe.Pipeline.Ledger.Postgres;
using TempMe.Pipeline.Testing;

namespace TempMe.Pipeline.Distributed.Tests;

/// <summary>Answers anyone may ask for stay bounded: failures come in pages or as a stream, event streams are capped.</summary>
[Collection(DistributedCollection.Name)]
public sealed class ResponseLimitTests(DistributedFixture fixture)
{
    private const int Failed = 2345;

    [Fact]
    public async Task Failures_come_in_bounded_pages_with_a_next_cursor_and_jsonl_is_streamed_whole()
    {
        // The job is in place before the silo starts: a silo looking for queued jobs while the rows are written would
        // try to list its made-up source.
        using var cluster = fixture.NewCluster();
        var id = await CreateJobWithFailuresAsync(cluster.Database, Failed);
        await cluster.AddSiloAsync();
        using var client = new SiloClient(cluster.Port);

        // No limit: a default page, not every row.
        using (var first = await client.Http.GetAsync($"api/jobs/{id}/failures"))
        {
            Assert.Equal(HttpStatusCode.OK, first.StatusCode);
            Assert.Equal(100, JsonDocument.Parse(await first.Content.ReadAsStringAsync()).RootElement.GetArrayLength());
            Assert.True(first.Headers.Contains("Link"), "a full page carries a Link to the next one");
        }

        // Walking the cursor with the largest page gives every failure once, in listing order.
        var sources = new List<string>();
        var next = $"api/jobs/{id}/failures?limit=1000";
        var pages = 0;
        while (next is not null)
        {
            using var page = await client.Http.GetAsync(next);
            Assert.Equal(HttpStatusCode.OK, page.StatusCode);
            var rows = JsonDocument.Parse(await page.Content.ReadAsStringAsync()).RootElement;
            Assert.True(rows.GetArrayLength() <= 1000);
            sources.AddRange(rows.EnumerateArray().Select(r => r.GetProperty("source").GetString()!));
            next = page.Headers.TryGetValues("Link", out var links) ? NextOf(links.Single()) : null;
            Assert.True(++pages < 10, "the cursor does not advance");
        }

        Assert.Equal(Enumerable.Range(0, Failed).Select(Source).ToList(), sources);

        // JSONL: every row, streamed (chunked, no Content-Length computed from a buffer).
        using (var jsonl = await client.Http.GetAsync($"api/jobs/{id}/failures?format=jsonl", HttpCompletionOption.ResponseHeadersRead))
        {
            Assert.Equal(HttpStatusCode.OK, jsonl.StatusCode);
            Assert.Null(jsonl.Content.Headers.ContentLength);
            Assert.True(jsonl.Headers.TransferEncodingChunked, "the JSONL download is not streamed");
            var lines = (await jsonl.Content.ReadAsStringAsync()).Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.Equal(Enumerable.Range(0, Failed).Select(Source).ToList(), lines.Select(l => JsonDocument.Parse(l).RootElement.GetProperty("source").GetString()!).ToList());
        }

        var tail = (await client.Http.GetStringAsync($"api/jobs/{id}/failures?format=jsonl&after=2339&limit=3")).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal([Source(2340), Source(2341), Source(2342)], tail.Select(l => JsonDocument.Parse(l).RootElement.GetProperty("source").GetString()!).ToArray());

        foreach (var (query, field) in new[] { ("limit=0", "limit"), ("limit=1001", "limit"), ("limit=1000000", "limit"), ("limit=abc", "limit"), ("after=-1", "after"), ("after=x", "after"), ("format=xml", "format") })
        {
            using var bad = await client.Http.GetAsync($"api/jobs/{id}/failures?{query}");
            var text = await bad.Content.ReadAsStringAsync();
            Assert.True(bad.StatusCode == HttpStatusCode.BadRequest, $"{query}: {(int)bad.StatusCode} {text}");
            Assert.Equal("application/problem+json", bad.Content.Headers.ContentType?.MediaType);
            Assert.True(JsonDocument.Parse(text).RootElement.GetProperty("errors").TryGetProperty(field, out _), $"{query}: {text}");
        }
    }

    [Fact]
    public async Task Event_streams_are_capped_and_one_over_the_cap_gets_503_with_retry_after()
    {
        using var cluster = await fixture.StartClusterAsync();
        var port = cluster.Port;
        using var client = new SiloClient(port);
        using var http = new HttpClient { BaseAddress = client.Http.BaseAddress, Timeout = Timeout.InfiniteTimeSpan };
        const int Cap = 64;
        var open = new List<HttpResponseMessage>();
        try
        {
            for (var i = 0; i < Cap; i++)
            {
                var stream = await http.GetAsync("api/events", HttpCompletionOption.ResponseHeadersRead);
                open.Add(stream);
                Assert.True(stream.StatusCode == HttpStatusCode.OK, $"stream {i + 1} of {Cap}: {(int)stream.StatusCode}");
            }

            using (var over = await http.GetAsync("api/events", HttpCompletionOption.ResponseHeadersRead))
            {
                Assert.Equal(HttpStatusCode.ServiceUnavailable, over.StatusCode);
                Assert.Equal("application/problem+json", over.Content.Headers.ContentType?.MediaType);
                Assert.NotNull(over.Headers.RetryAfter);
                Assert.Contains("event streams", await over.Content.ReadAsStringAsync(), StringComparison.Ordinal);
            }

            // A closed stream frees its slot (the server notices the disconnect).
            open[0].Dispose();
            open.RemoveAt(0);
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
            while (true)
            {
                var again = await http.GetAsync("api/events", HttpCompletionOption.ResponseHeadersRead);
                if (again.StatusCode == HttpStatusCode.OK)
                {
                    open.Add(again);
                    break;
                }

                again.Dispose();
                Assert.True(DateTime.UtcNow < deadline, "a closed stream never gave its slot back");
                await Task.Delay(200);
            }

            Assert.Equal(HttpStatusCode.OK, (await client.Http.GetAsync("api/dashboard")).StatusCode);
        }
        finally
        {
            open.ForEach(r => r.Dispose());
        }
    }

    private static string Source(int i) => $"/videos/v{i:D5}.mp4";

    private static string NextOf(string link)
    {
        Assert.EndsWith("rel=\"next\"", link, StringComparison.Ordinal);
        return link[(link.IndexOf('<', StringComparison.Ordinal) + 1)..link.IndexOf('>', StringComparison.Ordinal)].TrimStart('/');
    }

    /// <summary>A listed job whose every video failed for good, written through the ledger the workers use (no decoding needed).</summary>
    private static async Task<string> CreateJobWithFailuresAsync(string db, int count)
    {
        await using var ledger = PostgresLedger.Create(db);
        await ledger.MigrateAsync(CancellationToken.None);
        var id = await ledger.CreateJobAsync(new DistributedJobSpec("/videos", Path.Combine(DistributedFixture.LocalRoot, $"failures-{Guid.NewGuid():N}"), "random:vit-b32", 12, 500, 1), CancellationToken.None);
        await ledger.RegisterListingAsync(id, _ => Listing(count), CancellationToken.None);
        var view = ledger.ForJob(id, "model-key");
        while (await view.ClaimShardAsync("test", TimeSpan.FromMinutes(1), CancellationToken.None) is { } shard)
        {
            var results = shard.Videos.Select(v => new VideoResult { VideoId = v.VideoId, Source = v.Source, ErrorCode = ErrorCodes.NotAVideo, Message = "not a video" }).ToList();
            Assert.True(await view.CompleteShardAsync(shard, new ShardCompletion(null, results, 1), CancellationToken.None));
        }

        return id;
    }

    private static async IAsyncEnumerable<SourceVideo> Listing(int count)
    {
        await Task.Yield();
        for (var i = 0; i < count; i++)
        {
            yield return new SourceVideo(Source(i), 1000, DateTimeOffset.UnixEpoch);
        }
    }
}

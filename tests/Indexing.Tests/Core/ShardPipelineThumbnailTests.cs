using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using TempMe.Pipeline.Contracts;
using TempMe.Pipeline.Indexing.Tests.Fakes;
using TempMe.Pipeline.Indexing.Tests.Thumbnails;

namespace TempMe.Pipeline.Indexing.Tests.Core;

/// <summary>
/// Thumbnails written by the shard pipeline: one per content, named by its hash, written before the part that
/// lists it, reused when present, and never the cause of a failed video.
/// </summary>
public sealed class ShardPipelineThumbnailTests : FakePipelineParts
{
    private static string Sha(params byte[] content) => Convert.ToHexStringLower(SHA256.HashData(content));

    private static string ThumbnailOf(string sha) => $"thumbnails/{sha[..2]}/{sha}.jpg";

    /// <summary>Every row of every part: source, content hash and thumbnail (null when the row names none).</summary>
    private List<(string Source, string Sha, string? Thumbnail)> Rows() =>
        Store.Blobs.Where(b => b.Key.EndsWith(".jsonl", StringComparison.Ordinal))
            .SelectMany(b => Encoding.UTF8.GetString(b.Value).Split('\n', StringSplitOptions.RemoveEmptyEntries))
            .Select(line => JsonDocument.Parse(line).RootElement)
            .Select(r => (r.GetProperty("source").GetString()!, r.GetProperty("content_sha256").GetString()!,
                r.TryGetProperty("thumbnail", out var t) ? t.GetString() : null))
            .ToList();

    private List<string> Thumbnails() => Store.Blobs.Keys.Where(k => k.StartsWith("thumbnails/", StringComparison.Ordinal)).Order(StringComparer.Ordinal).ToList();

    [Fact]
    public async Task Copies_of_one_content_share_one_thumbnail_named_by_its_hash_in_flight_or_in_a_later_shard()
    {
        Fetcher.Add("/v/a", 40, 1);
        Fetcher.Add("/v/b", 40, 1); // the same bytes as /v/a, in the same shard
        Fetcher.Add("/v/c", 90, 2);
        Fetcher.Add("/v/d", 40, 1); // and again, in a later shard
        var ledger = InMemoryShardLedger.Create(["/v/a", "/v/b", "/v/c", "/v/d"], shardSize: 3);

        await Pipeline(ledger).RunAsync(default).WaitAsync(Guard);

        Assert.Equal(new[] { ThumbnailOf(Sha(40, 1)), ThumbnailOf(Sha(90, 2)) }.Order(StringComparer.Ordinal), Thumbnails());
        var rows = Rows();
        Assert.Equal(4, rows.Count);
        Assert.All(rows, r => Assert.Equal(ThumbnailOf(r.Sha), r.Thumbnail));
        Assert.Equal(3, rows.Count(r => r.Thumbnail == ThumbnailOf(Sha(40, 1))));
        foreach (var name in Thumbnails())
        {
            var image = DecodedJpeg.Decode(Store.Blobs[name]);
            Assert.Equal((Encoder.ImageSize, Encoder.ImageSize), (image.Width, image.Height));
        }
    }

    [Fact]
    public async Task A_thumbnail_is_in_the_store_before_the_part_that_lists_it()
    {
        foreach (var (source, value) in new[] { ("/v/a", (byte)10), ("/v/b", (byte)20), ("/v/c", (byte)30) })
        {
            Fetcher.Add(source, value);
        }

        var order = new ConcurrentQueue<string>();
        Store.BeforeWrite = (name, _) =>
        {
            order.Enqueue(name);
            return Task.CompletedTask;
        };
        var ledger = InMemoryShardLedger.Create(["/v/a", "/v/b", "/v/c"], shardSize: 2);

        await Pipeline(ledger).RunAsync(default).WaitAsync(Guard);

        var writes = order.ToList();
        foreach (var part in Store.Blobs.Keys.Where(k => k.EndsWith(".jsonl", StringComparison.Ordinal)))
        {
            foreach (var line in Encoding.UTF8.GetString(Store.Blobs[part]).Split('\n', StringSplitOptions.RemoveEmptyEntries))
            {
                var thumbnail = JsonDocument.Parse(line).RootElement.GetProperty("thumbnail").GetString()!;
                Assert.True(writes.IndexOf(thumbnail) is >= 0 and var at && at < writes.IndexOf(part), $"{thumbnail} was not written before {part}: {string.Join(", ", writes)}");
            }
        }
    }

    [Fact]
    public async Task A_thumbnail_already_in_the_store_is_named_and_not_written_again()
    {
        Fetcher.Add("/v/a", 50, 5);
        var name = ThumbnailOf(Sha(50, 5));
        byte[] earlier = [0xFF, 0xD8, 1, 2, 3, 0xFF, 0xD9];
        Store.Blobs[name] = earlier;
        var ledger = InMemoryShardLedger.Create(["/v/a"], shardSize: 1);
        var pipeline = Pipeline(ledger);

        await pipeline.RunAsync(default).WaitAsync(Guard);

        Assert.Same(earlier, Store.Blobs[name]);
        Assert.Equal(name, Assert.Single(Rows()).Thumbnail);
        Assert.Equal(0, pipeline.Counters.ThumbnailsWritten);
    }

    [Fact]
    public async Task A_thumbnail_that_cannot_be_written_leaves_the_video_indexed_without_one_and_is_counted()
    {
        Fetcher.Add("/v/a", 60);
        Fetcher.Add("/v/b", 70);
        Store.BeforeWrite = (name, _) => name.StartsWith("thumbnails/", StringComparison.Ordinal)
            ? throw new IOException("disk quota exceeded for thumbnails")
            : Task.CompletedTask;
        var ledger = InMemoryShardLedger.Create(["/v/a", "/v/b"], shardSize: 2);
        var pipeline = Pipeline(ledger);

        await pipeline.RunAsync(default).WaitAsync(Guard);

        Assert.Equal((2, 0), (pipeline.Counters.Done, pipeline.Counters.Failed));
        Assert.All(Assert.Single(ledger.Completions).Results, r => Assert.True(r.Succeeded && r.Thumbnail is null));
        Assert.All(Rows(), r => Assert.Null(r.Thumbnail));
        Assert.DoesNotContain("thumbnail", Encoding.UTF8.GetString(Store.Blobs["embeddings/part-00000.jsonl"]), StringComparison.Ordinal);
        Assert.Equal(2, pipeline.Counters.ThumbnailFailures);
        Assert.Empty(Thumbnails());
    }
}

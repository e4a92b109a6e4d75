using System.Text.Json;
using TempMe.Pipeline.Testing;
using TempMe.Pipeline.Testing.Search;

namespace TempMe.Pipeline.Search.Tests;

/// <summary><c>tempme search</c> and <c>tempme eval</c> end to end on the tiny reference model and real videos.</summary>
public sealed class SearchCommandTests(TinySearchIndex index) : IClassFixture<TinySearchIndex>
{
    private static readonly TimeSpan Limit = TimeSpan.FromMinutes(3);

    private static Task<(int ExitCode, string Stdout, string Stderr)> Tempme(params string[] args) => TempmeCli.RunAsync(Limit, args);

    private static List<JsonElement> JsonLines(string stdout) =>
        stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement).ToList();

    [Fact]
    public async Task Text_search_scores_are_the_dot_products_of_the_stored_rows_with_the_text_embedding()
    {
        var run = await Tempme(["search", index.Index, TinySearchIndex.Query, "-k", "3", "--json", .. TinySearchIndex.ModelSettings]);
        Assert.True(run.ExitCode == 0, run.Stderr);
        var lines = JsonLines(run.Stdout);

        // Expected order and scores from the independently computed embeddings.
        var expected = index.Vectors
            .Select((v, i) => (Source: index.Videos[i], Timestamps: index.Timestamps[i], Score: v.Zip(index.QueryEmbedding, (a, b) => (double)a * b).Sum()))
            .OrderByDescending(x => x.Score).ToList();
        Assert.Equal(3, lines.Count);
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(i + 1, lines[i].GetProperty("rank").GetInt32());
            Assert.Equal(expected[i].Source, lines[i].GetProperty("source").GetString());
            Assert.Equal(expected[i].Score, lines[i].GetProperty("score").GetDouble(), 1e-5);
            Assert.Equal(expected[i].Timestamps, lines[i].GetProperty("timestamps_s").EnumerateArray().Select(t => t.GetDouble()).ToArray());

            // This index's rows name no thumbnail (written without them): the field is there, null.
            Assert.Equal(JsonValueKind.Null, lines[i].GetProperty("thumbnail").ValueKind);
        }

        // The plain form prints the same ranking with the timestamps.
        var plain = await Tempme(["search", index.Index, TinySearchIndex.Query, "-k", "2", .. TinySearchIndex.ModelSettings]);
        Assert.True(plain.ExitCode == 0, plain.Stderr);
        var rows = plain.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2, rows.Length);
        Assert.Contains(expected[0].Source, rows[0]);
        Assert.Contains("t=0,", rows[0]);
    }

    [Fact]
    public async Task Query_by_example_ranks_the_video_itself_first()
    {
        var like = await Tempme("search", index.Index, "--like", "banana", "--json");
        Assert.True(like.ExitCode == 0, like.Stderr);
        var first = JsonLines(like.Stdout)[0];
        Assert.Equal(index.Videos[1], first.GetProperty("source").GetString());
        Assert.Equal(1.0, first.GetProperty("score").GetDouble(), 1e-5);

        var video = await Tempme(["search", index.Index, "--video", index.Videos[2], "--json", .. TinySearchIndex.ModelSettings]);
        Assert.True(video.ExitCode == 0, video.Stderr);
        var hits = JsonLines(video.Stdout);
        Assert.Equal(index.Videos[2], hits[0].GetProperty("source").GetString());
        Assert.True(hits[0].GetProperty("score").GetDouble() > 0.9999, video.Stdout);
    }

    [Fact]
    public async Task A_model_with_another_fingerprint_is_refused()
    {
        // Default heads and schedule are another model as far as embeddings go.
        var run = await Tempme("search", index.Index, "pasta", "--vocab", TinySearchIndex.Vocab, "--vision-heads", "2", "--text-heads", "2", "--clip-layers", "1,3,4");
        Assert.Equal(2, run.ExitCode);
        Assert.Contains("but the index was made with " + index.Fingerprint, run.Stderr);
    }

    [Fact]
    public async Task Eval_reports_both_directions_and_names_captions_for_videos_not_in_the_index()
    {
        var captions = Path.Combine(index.Root, "captions.csv");
        File.WriteAllText(captions, "video_id,sentence\napple,\"red, round fruit\"\nbanana,a yellow fruit\nbanana,a long fruit\ncherry,small red fruit\nvideo9999,not indexed\n");
        var run = await Tempme(["eval", index.Index, "--captions", captions, "--json", .. TinySearchIndex.ModelSettings]);
        Assert.True(run.ExitCode == 0, run.Stderr);
        Assert.Contains("video9999", run.Stderr);
        var report = JsonDocument.Parse(run.Stdout).RootElement;
        Assert.Equal(3, report.GetProperty("videos").GetInt32());
        Assert.Equal(4, report.GetProperty("captions").GetInt32());
        Assert.Equal(1, report.GetProperty("unmatched").GetInt32());
        var t2v = report.GetProperty("text_to_video");
        Assert.True(t2v.GetProperty("entries").GetInt32() >= 4);
        Assert.Equal(100.0, t2v.GetProperty("r5").GetDouble()); // three videos: every rank is within 5
        Assert.InRange(t2v.GetProperty("mean_rank").GetDouble(), 1.0, 3.0);
        Assert.True(report.GetProperty("video_to_text").GetProperty("entries").GetInt32() >= 3);

        var plain = await Tempme(["eval", index.Index, "--captions", captions, .. TinySearchIndex.ModelSettings]);
        Assert.True(plain.ExitCode == 0, plain.Stderr);
        Assert.Contains("text-to-video", plain.Stdout);
        Assert.Contains("video-to-text", plain.Stdout);

        var none = Path.Combine(index.Root, "none.jsonl");
        File.WriteAllText(none, "{\"video\": \"video1\", \"caption\": \"x\"}\n");
        var fatal = await Tempme(["eval", index.Index, "--captions", none, .. TinySearchIndex.ModelSettings]);
        Assert.Equal(2, fatal.ExitCode);
        Assert.Contains("none of the 1 videos", fatal.Stderr);
    }

    [Fact]
    public async Task Bad_input_gives_a_clear_error_and_exit_2()
    {
        var empty = Directory.CreateDirectory(Path.Combine(index.Root, "not-an-index")).FullName;
        var run = await Tempme("search", empty, "pasta");
        Assert.Equal(2, run.ExitCode);
        Assert.Contains("no index.json: not an index folder", run.Stderr);

        // A job that has written parts but not yet its index.json.
        var half = Path.Combine(index.Root, "half");
        index.WriteIndex(half, index.Fingerprint);
        File.Delete(Path.Combine(half, "index.json"));
        run = await Tempme("search", half, "pasta");
        Assert.Equal(2, run.ExitCode);
        Assert.Contains("has not finished (half-written)", run.Stderr);

        // An interrupted run's index.json with videos still pending.
        var pending = Path.Combine(index.Root, "pending");
        index.WriteIndex(pending, index.Fingerprint, pending: 1);
        run = await Tempme("search", pending, "pasta");
        Assert.Equal(2, run.ExitCode);
        Assert.Contains("unfinished: 1 videos still pending", run.Stderr);

        // A part listed in index.json but missing.
        var missing = Path.Combine(index.Root, "missing");
        index.WriteIndex(missing, index.Fingerprint);
        File.Delete(Path.Combine(missing, "embeddings", "part-00001.npy"));
        run = await Tempme("search", missing, "--like", "apple");
        Assert.Equal(2, run.ExitCode);
        Assert.Contains("part embeddings/part-00001.npy listed in index.json is missing", run.Stderr);

        run = await Tempme("search", index.Index, "   ");
        Assert.Equal(2, run.ExitCode);
        Assert.Contains("the query is empty", run.Stderr);

        run = await Tempme("search", index.Index, "pasta", "-k", "0");
        Assert.Equal(2, run.ExitCode);
        Assert.Contains("-k 0 is out of range", run.Stderr);

        run = await Tempme("search", index.Index, "--like", "durian");
        Assert.Equal(2, run.ExitCode);
        Assert.Contains("--like durian: no such video in the index", run.Stderr);

        var elsewhere = Path.Combine(index.Root, "moved");
        index.WriteIndex(elsewhere, index.Fingerprint);
        var manifest = File.ReadAllText(Path.Combine(elsewhere, "index.json")).Replace(TinySearchIndex.Weights, "/nowhere/model.safetensors", StringComparison.Ordinal);
        File.WriteAllText(Path.Combine(elsewhere, "index.json"), manifest);
        run = await Tempme("search", elsewhere, "pasta");
        Assert.Equal(2, run.ExitCode);
        Assert.Contains("is not on this machine; pass --model", run.Stderr);
        run = await Tempme(["search", elsewhere, "pasta", "--model", TinySearchIndex.Weights, .. TinySearchIndex.ModelSettings]);
        Assert.True(run.ExitCode == 0, run.Stderr);
    }
}

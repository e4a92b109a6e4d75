using System.Text.Json;
using TempMe.Pipeline.Indexing.Output;
using TempMe.Pipeline.Testing;

namespace TempMe.Pipeline.Indexing.Tests;

/// <summary>
/// <c>tempme index</c> end to end: real ffmpeg-made videos (good, copied, broken, empty), the real encoder with
/// random ViT-B/32 weights, the real SQLite ledger and output folder.
/// </summary>
public sealed class IndexCommandTests : IDisposable
{
    private static readonly TimeSpan RunLimit = TimeSpan.FromMinutes(4);
    private readonly string _root = Directory.CreateTempSubdirectory("tempme-index-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private string MakeCorpus()
    {
        var videos = Path.Combine(_root, "videos");
        TestVideos.MakeMp4(Path.Combine(videos, "a.mp4"), 2.0, hue: 0);
        TestVideos.MakeMp4(Path.Combine(videos, "nested", "b.MOV"), 3.0, hue: 90);
        TestVideos.MakeMp4(Path.Combine(videos, "c.mkv"), 1.0, hue: 180);
        File.Copy(Path.Combine(videos, "a.mp4"), Path.Combine(videos, "nested", "copy-of-a.mp4"));
        File.WriteAllText(Path.Combine(videos, "broken.mp4"), "this is a text file, not a video");
        File.WriteAllBytes(Path.Combine(videos, "empty.webm"), []);
        File.WriteAllText(Path.Combine(videos, "notes.txt"), "not listed: wrong extension");
        return videos;
    }

    [Fact]
    public async Task Indexes_a_folder_dedupes_copies_records_failures_and_resumes_without_recomputing()
    {
        var videos = MakeCorpus();
        var output = Path.Combine(_root, "out");

        var first = await TempmeCli.RunAsync(RunLimit, "index", videos, "--out", output, "--model", "random:vit-b32", "--shard-size", "3", "--batch", "2");
        Assert.True(first.ExitCode == 0, first.Stderr + first.Stdout);
        Assert.Contains("(3 encoded, 1 reused by content hash)", first.Stdout);
        Assert.Contains("failed 2 in total", first.Stdout);
        Assert.Contains("meaningless", first.Stdout);

        using var index = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(output, "index.json")));
        var counts = index.RootElement.GetProperty("counts");
        Assert.Equal(6, counts.GetProperty("videos").GetInt32());
        Assert.Equal(4, counts.GetProperty("indexed").GetInt32());
        Assert.Equal(2, counts.GetProperty("failed").GetInt32());
        Assert.Equal(12, index.RootElement.GetProperty("sampling").GetProperty("frames").GetInt32());
        Assert.Matches("^sha256:[0-9a-f]{64}$", index.RootElement.GetProperty("model").GetProperty("fingerprint").GetString());

        // Every video exactly once, in parts readable as .npy, rows unit length, metadata row-aligned.
        var rows = ReadAllRows(output, index.RootElement);
        Assert.Equal(4, rows.Count);
        Assert.Equal(rows.Select(r => r.Source).Distinct().Count(), rows.Count);
        Assert.All(rows, r => Assert.InRange(Math.Sqrt(r.Vector.Sum(v => (double)v * v)), 0.9999, 1.0001));
        Assert.All(rows, r => Assert.Equal(12, r.Timestamps.Length));
        var a = rows.Single(r => r.Source.EndsWith("/a.mp4", StringComparison.Ordinal));
        var copy = rows.Single(r => r.Source.EndsWith("copy-of-a.mp4", StringComparison.Ordinal));
        Assert.Equal(a.Sha, copy.Sha);
        Assert.Equal(a.Vector, copy.Vector);
        var b = rows.Single(r => r.Source.EndsWith("b.MOV", StringComparison.Ordinal));
        Assert.NotEqual(a.Vector, b.Vector);

        var failures = File.ReadAllLines(Path.Combine(output, "failures.jsonl")).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.Equal(["broken.mp4", "empty.webm"], failures.Select(f => Path.GetFileName(f.GetProperty("source").GetString()!)).ToArray());
        Assert.Equal("not_a_video", failures[0].GetProperty("error_code").GetString());
        Assert.Equal("empty_file", failures[1].GetProperty("error_code").GetString());
        Assert.All(failures, f => Assert.Equal(1, f.GetProperty("attempts").GetInt32()));

        // Running again recomputes nothing and rewrites the same output.
        var before = TempmeCli.Snapshot(output);
        var second = await TempmeCli.RunAsync(RunLimit, "index", videos, "--out", output, "--model", "random:vit-b32", "--shard-size", "3");
        Assert.True(second.ExitCode == 0, second.Stderr);
        Assert.Contains("indexed 0 videos this run", second.Stdout);
        Assert.Contains("skipped 4 already done", second.Stdout);
        AssertSameFiles(before, TempmeCli.Snapshot(output));

        // A changed file is recomputed; its copy elsewhere keeps the old content's embedding.
        TestVideos.MakeMp4(Path.Combine(videos, "a.mp4"), 2.0, hue: 270);
        File.SetLastWriteTimeUtc(Path.Combine(videos, "a.mp4"), DateTime.UtcNow.AddMinutes(1));
        var third = await TempmeCli.RunAsync(RunLimit, "index", videos, "--out", output, "--model", "random:vit-b32", "--shard-size", "3");
        Assert.True(third.ExitCode == 0, third.Stderr);
        Assert.Contains("(1 encoded, 0 reused", third.Stdout);
        using var index3 = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(output, "index.json")));
        var rows3 = ReadAllRows(output, index3.RootElement);
        var a3 = rows3.Single(r => r.Source.EndsWith("/a.mp4", StringComparison.Ordinal));
        Assert.NotEqual(a.Sha, a3.Sha);
        Assert.NotEqual(a.Vector, a3.Vector);
        Assert.Equal(copy.Vector, rows3.Single(r => r.Source.EndsWith("copy-of-a.mp4", StringComparison.Ordinal)).Vector);

        // Another frame count would make different embeddings: refused in the same folder, with the way out named.
        var other = await TempmeCli.RunAsync(RunLimit, "index", videos, "--out", output, "--model", "random:vit-b32", "--frames", "24");
        Assert.Equal(2, other.ExitCode);
        Assert.Contains("new --out folder", other.Stderr);
    }

    [Fact]
    public async Task Fail_on_error_turns_failed_videos_into_exit_code_1()
    {
        var videos = Path.Combine(_root, "few");
        TestVideos.MakeMp4(Path.Combine(videos, "ok.mp4"), 1.0);
        File.WriteAllBytes(Path.Combine(videos, "bad.mp4"), [1, 2, 3, 4, 5, 6, 7, 8]);
        var result = await TempmeCli.RunAsync(RunLimit, "index", videos, "--out", Path.Combine(_root, "out"), "--model", "random:vit-b32", "--fail-on-error");
        Assert.Equal(1, result.ExitCode);
        Assert.Single(File.ReadAllLines(Path.Combine(_root, "out", "failures.jsonl")));
    }

    [Fact]
    public async Task Bad_input_exits_2_with_a_message_and_writes_nothing()
    {
        var videos = Path.Combine(_root, "v");
        TestVideos.MakeMp4(Path.Combine(videos, "ok.mp4"), 1.0);
        var output = Path.Combine(_root, "never");

        var missing = await TempmeCli.RunAsync(RunLimit, "index", Path.Combine(_root, "nope"), "--out", output, "--model", "random:vit-b32");
        Assert.Equal(2, missing.ExitCode);
        Assert.Contains("does not exist", missing.Stderr);

        var noModel = await TempmeCli.RunAsync(RunLimit, "index", videos, "--out", output);
        Assert.Equal(2, noModel.ExitCode);
        Assert.Contains("--model", noModel.Stderr);

        var emptyModelFolder = Directory.CreateDirectory(Path.Combine(_root, "model")).FullName;
        var badModel = await TempmeCli.RunAsync(RunLimit, "index", videos, "--out", output, "--model", emptyModelFolder);
        Assert.Equal(2, badModel.ExitCode);
        Assert.Contains("--model", badModel.Stderr);

        var blocker = Path.Combine(_root, "a-file");
        File.WriteAllText(blocker, "x");
        var unwritable = await TempmeCli.RunAsync(RunLimit, "index", videos, "--out", Path.Combine(blocker, "out"), "--model", "random:vit-b32");
        Assert.Equal(2, unwritable.ExitCode);
        Assert.Contains("not writable", unwritable.Stderr);

        var badFrames = await TempmeCli.RunAsync(RunLimit, "index", videos, "--out", output, "--model", "random:vit-b32", "--frames", "0");
        Assert.Equal(2, badFrames.ExitCode);

        Assert.False(Directory.Exists(output));
    }

    internal static void AssertSameFiles(SortedDictionary<string, byte[]> expected, SortedDictionary<string, byte[]> actual)
    {
        Assert.Equal(expected.Keys, actual.Keys);
        foreach (var (name, bytes) in expected)
        {
            Assert.True(bytes.AsSpan().SequenceEqual(actual[name]), $"{name} differs");
        }
    }

    internal sealed record Row(string Source, string Sha, float[] Vector, double[] Timestamps);

    internal static List<Row> ReadAllRows(string output, JsonElement index)
    {
        var rows = new List<Row>();
        foreach (var part in index.GetProperty("parts").EnumerateArray())
        {
            using var npy = File.OpenRead(Path.Combine(output, part.GetProperty("embeddings").GetString()!));
            var (n, e, data) = NpyFormat.ReadFloat32(npy);
            var lines = File.ReadAllLines(Path.Combine(output, part.GetProperty("metadata").GetString()!));
            Assert.Equal(n, lines.Length);
            Assert.Equal(n, part.GetProperty("rows").GetInt32());
            for (var i = 0; i < n; i++)
            {
                var meta = JsonDocument.Parse(lines[i]).RootElement;
                Assert.Equal(i, meta.GetProperty("row").GetInt32());
                rows.Add(new Row(
                    meta.GetProperty("source").GetString()!,
                    meta.GetProperty("content_sha256").GetString()!,
                    data.AsSpan(i * e, e).ToArray(),
                    meta.GetProperty("timestamps_s").EnumerateArray().Select(t => t.GetDouble()).ToArray()));
            }
        }

        return rows;
    }
}

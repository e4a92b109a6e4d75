using System.Text.Json;
using System.Text.RegularExpressions;
using TempMe.Pipeline.Indexing.Output;
using TempMe.Pipeline.Testing;

namespace TempMe.Pipeline.Testing.Search;

/// <summary>
/// An index of three real ffmpeg-made videos embedded by the tiny reference model, written in the layout
/// <c>tempme index</c> writes (two parts). <c>tempme index</c> itself runs only the default schedule, which the
/// five-layer tiny model cannot take, so the embeddings come from <c>tempme frames</c> + <c>tempme embed-tensor</c>
/// (the same sampler and encoder) with the tiny model's settings, and the text embedding of <see cref="Query"/> comes
/// from <c>embed-tensor --text</c>: both computed apart from <c>tempme search</c>.
/// </summary>
public sealed class TinySearchIndex : IAsyncLifetime
{
    /// <summary>The text query the tests search for.</summary>
    public const string Query = "a man is cooking pasta";

    private static readonly TimeSpan Limit = TimeSpan.FromMinutes(3);

    /// <summary>Root of the test's files.</summary>
    public string Root { get; } = Directory.CreateTempSubdirectory("tempme-search-").FullName;

    /// <summary>The index folder.</summary>
    public string Index => Path.Combine(Root, "index");

    /// <summary>The video files, in row order.</summary>
    public IReadOnlyList<string> Videos { get; private set; } = [];

    /// <summary>Stored rows, one per video.</summary>
    public IReadOnlyList<float[]> Vectors { get; private set; } = [];

    /// <summary>Sampled timestamps per video.</summary>
    public IReadOnlyList<double[]> Timestamps { get; private set; } = [];

    /// <summary>Embedding of <see cref="Query"/> from embed-tensor.</summary>
    public float[] QueryEmbedding { get; private set; } = [];

    /// <summary>The tiny model's fingerprint, learnt from search's refusal of a wrong one.</summary>
    public string Fingerprint { get; private set; } = "";

    /// <summary>The tiny checkpoint.</summary>
    public static string Weights => Path.Combine(RepoPaths.TinyReference, "weights.safetensors");

    /// <summary>The CLIP vocabulary folder.</summary>
    public static string Vocab => Path.Combine(RepoPaths.Shared, "reference", "clip-bpe");

    /// <summary>The tiny model's settings, as search and eval take them.</summary>
    public static string[] ModelSettings => ["--vocab", Vocab, "--vision-heads", "2", "--text-heads", "2", "--clip-layers", "1,2,3"];

    /// <inheritdoc />
    public async Task InitializeAsync()
    {
        var videos = new List<string>();
        var frames = new List<float>();
        var timestamps = new List<double[]>();
        foreach (var (name, hue, seconds) in new[] { ("apple", 0, 2.0), ("banana", 120, 3.0), ("cherry", 240, 1.5) })
        {
            var video = TestVideos.MakeMp4(Path.Combine(Root, "videos", name + ".mp4"), seconds, hue);
            var tensor = Path.Combine(Root, name + ".safetensors");
            var sampled = await TempmeCli.RunAsync(Limit, "frames", video, "--output", tensor);
            Assert.True(sampled.ExitCode == 0, sampled.Stderr);
            using var info = JsonDocument.Parse(sampled.Stdout);
            timestamps.Add(info.RootElement.GetProperty("timestamps_s").EnumerateArray().Select(t => t.GetDouble()).ToArray());
            frames.AddRange(SafetensorsTestFile.ReadF32(tensor, "frames").Data);
            videos.Add(video);
        }

        var input = Path.Combine(Root, "input.safetensors");
        TempMe.Pipeline.Encoder.Internal.SafeTensorsWriter.Write(input, [TempMe.Pipeline.Encoder.Internal.SafeTensorsWriter.Tensor.F32("video", [videos.Count, 12, 3, 224, 224], [.. frames])]);
        var output = Path.Combine(Root, "embedded.safetensors");
        var embedded = await TempmeCli.RunAsync(Limit, "embed-tensor", "--weights", Weights, "--input", input, "--output", output,
            "--vocab", Vocab, "--vision-heads", "2", "--text-heads", "2", "--clip-layers", "1,2,3", "--text", Query);
        Assert.True(embedded.ExitCode == 0, embedded.Stderr);
        var (shape, data) = SafetensorsTestFile.ReadF32(output, "video_embedding");
        var e = (int)shape[1];
        Vectors = Enumerable.Range(0, videos.Count).Select(i => data.AsSpan(i * e, e).ToArray()).ToList();
        QueryEmbedding = SafetensorsTestFile.ReadF32(output, "text_embedding").Data;
        Videos = videos;
        Timestamps = timestamps;

        WriteIndex(Index, "sha256:" + new string('0', 64));
        var refused = await TempmeCli.RunAsync(Limit, ["search", Index, Query, .. ModelSettings]);
        Assert.Equal(2, refused.ExitCode);
        Fingerprint = Regex.Match(refused.Stderr, "has fingerprint (sha256:[0-9a-f]{64})").Groups[1].Value;
        Assert.True(Fingerprint.Length > 0, refused.Stderr);
        WriteIndex(Index, Fingerprint);
    }

    /// <summary>Writes the index layout to <paramref name="folder"/> with <paramref name="fingerprint"/>: rows 0–1 in part 0, row 2 in part 1.</summary>
    public void WriteIndex(string folder, string fingerprint, long pending = 0)
    {
        Directory.CreateDirectory(Path.Combine(folder, OutputLayout.EmbeddingsFolder));
        var e = Vectors[0].Length;
        var parts = new List<ManifestPart>();
        foreach (var (part, rows) in new[] { (0, new[] { 0, 1 }), (1, new[] { 2 }) })
        {
            var name = OutputLayout.PartName(part);
            using (var npy = File.Create(Path.Combine(folder, name + ".npy")))
            {
                NpyFormat.WriteFloat32(npy, rows.SelectMany(r => Vectors[r]).ToArray(), rows.Length, e);
            }

            File.WriteAllLines(Path.Combine(folder, name + ".jsonl"), rows.Select((r, i) => JsonSerializer.Serialize(new PartRow
            {
                Row = i,
                Source = Videos[r],
                ContentSha256 = new string((char)('a' + r), 64),
                DurationSeconds = null,
                TimestampsSeconds = Timestamps[r],
            }, OutputJson.Options)));
            parts.Add(new ManifestPart(name + ".npy", name + ".jsonl", rows.Length));
        }

        var manifest = new IndexManifest
        {
            Model = new ManifestModel(Weights, fingerprint),
            Sampling = new ManifestSampling(12, 224, 1, "t12-s224-fps1"),
            EmbeddingSize = e,
            Counts = new ManifestCounts(Videos.Count, Videos.Count - pending, 0, pending),
            Parts = parts,
        };
        File.WriteAllBytes(Path.Combine(folder, OutputLayout.IndexFile), JsonSerializer.SerializeToUtf8Bytes(manifest, OutputJson.Indented));
    }

    /// <inheritdoc />
    public Task DisposeAsync()
    {
        Directory.Delete(Root, recursive: true);
        return Task.CompletedTask;
    }
}

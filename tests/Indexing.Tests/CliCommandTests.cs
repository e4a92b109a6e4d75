using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using TempMe.Pipeline.Testing;
using TempMe.Pipeline.Testing.Search;

namespace TempMe.Pipeline.Indexing.Tests;

/// <summary>The <c>frames</c> and <c>embed-tensor</c> commands as a user runs them: the built binary, real files.</summary>
public sealed class CliCommandTests : IDisposable
{
    private static readonly TimeSpan Limit = TimeSpan.FromMinutes(3);
    private readonly string _root = Directory.CreateTempSubdirectory("tempme-cli-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    [Fact]
    public async Task Frames_prints_the_sampling_as_json_and_writes_the_tensor()
    {
        // 5 s at 25 fps: 125 frames, stride 25, candidates 0,25,...,100 (5 < 12), so linspace(0, 124, 12) truncated.
        var video = TestVideos.MakeMp4(Path.Combine(_root, "five.mp4"), 5.0, size: "320x240");
        var tensor = Path.Combine(_root, "frames.safetensors");
        var (code, stdout, stderr) = await TempmeCli.RunAsync(Limit, "frames", video, "--json", "--output", tensor);
        Assert.True(code == 0, stderr);
        using var json = JsonDocument.Parse(stdout);
        var root = json.RootElement;
        Assert.Equal("ok", root.GetProperty("status").GetString());
        long[] expected = [0, 11, 22, 33, 45, 56, 67, 78, 90, 101, 112, 124];
        Assert.Equal(expected, root.GetProperty("frame_indices").EnumerateArray().Select(e => e.GetInt64()).ToArray());
        Assert.Equal(320, root.GetProperty("width").GetInt32());
        Assert.Equal(240, root.GetProperty("height").GetInt32());

        var (shape, data) = SafetensorsTestFile.ReadF32(tensor, "frames");
        Assert.Equal([12L, 3, 224, 224], shape);
        Assert.All(data, v => Assert.InRange(v, -1.8f, 2.2f)); // CLIP-normalised [0,1] values stay in this range
    }

    [Fact]
    public async Task Frames_exits_3_for_a_bad_video_and_2_for_bad_arguments()
    {
        var bad = Path.Combine(_root, "bad.mp4");
        File.WriteAllText(bad, "hello");
        var (code, stdout, _) = await TempmeCli.RunAsync(Limit, "frames", bad, "--json");
        Assert.Equal(3, code);
        using var json = JsonDocument.Parse(stdout);
        Assert.Equal("failed", json.RootElement.GetProperty("status").GetString());
        Assert.Equal("not_a_video", json.RootElement.GetProperty("error_code").GetString());

        var zero = await TempmeCli.RunAsync(Limit, "frames", bad, "--frames", "0");
        Assert.Equal(2, zero.ExitCode);
        var unknown = await TempmeCli.RunAsync(Limit, "frames", bad, "--no-such-flag");
        Assert.Equal(2, unknown.ExitCode);
    }

    [Fact]
    public async Task Embed_tensor_reproduces_the_authors_reference_embeddings()
    {
        var output = Path.Combine(_root, "out.safetensors");
        var (code, _, stderr) = await TempmeCli.RunAsync(Limit, "embed-tensor",
            "--weights", Path.Combine(RepoPaths.TinyReference, "weights.safetensors"),
            "--input", Path.Combine(RepoPaths.TinyReference, "inputs.safetensors"),
            "--output", output,
            "--vocab", Path.Combine(RepoPaths.Shared, "reference", "clip-bpe"),
            "--vision-heads", "2", "--text-heads", "2", "--clip-layers", "1,2,3");
        Assert.True(code == 0, stderr);

        using var reference = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(RepoPaths.TinyReference, "reference.json")));
        var expectedVideo = reference.RootElement.GetProperty("video").GetProperty("video_embedding_normalized");
        var (videoShape, video) = SafetensorsTestFile.ReadF32(output, "video_embedding");
        Assert.Equal([2L, 32], videoShape);
        AssertClose(expectedVideo, video);
        var expectedText = reference.RootElement.GetProperty("text").GetProperty("text_embedding_normalized");
        var (_, text) = SafetensorsTestFile.ReadF32(output, "text_embedding");
        AssertClose(expectedText, text);

        var missing = await TempmeCli.RunAsync(Limit, "embed-tensor", "--weights", Path.Combine(_root, "none.safetensors"),
            "--input", Path.Combine(RepoPaths.TinyReference, "inputs.safetensors"), "--output", output);
        Assert.Equal(2, missing.ExitCode);
        Assert.Contains("none.safetensors", missing.Stderr);
    }

    private static void AssertClose(JsonElement expected, float[] actual)
    {
        var flat = expected.EnumerateArray().SelectMany(row => row.EnumerateArray()).Select(v => v.GetSingle()).ToArray();
        Assert.Equal(flat.Length, actual.Length);
        for (var i = 0; i < flat.Length; i++)
        {
            Assert.True(Math.Abs(flat[i] - actual[i]) <= 1e-5, $"value {i}: expected {flat[i]}, got {actual[i]}");
        }
    }
}

using System.Text.Json;
using Xunit.Abstractions;

namespace TempMe.Pipeline.Encoder.Tests;

/// <summary>
/// Parity with outputs of the authors' PyTorch code for a tiny model, stored in <c>$TEMPME_SHARED/reference/tiny</c>
/// (see <see cref="TinyReference"/>; docs/ENCODER.md describes what is computed).
/// </summary>
public sealed class TinyParityTests(ITestOutputHelper output)
{
    private const float EmbeddingTolerance = 1e-5f;
    private const float First8Tolerance = 5e-5f;

    public static TheoryData<string> WeightFiles => new() { "weights.safetensors", "weights_lora_merged.safetensors" };

    [Theory]
    [MemberData(nameof(WeightFiles))]
    public void Video_embeddings_token_counts_and_every_merge_match_the_reference(string file)
    {
        var encoder = EncoderFactory.Create(TinyReference.WeightsPath(file), 12, TinyReference.Options(), null);
        var trace = new RecordingTrace();
        var emb = new float[2 * 32];
        encoder.EncodeVideos(TinyReference.Video, 2, default, emb, trace);

        var json = TinyReference.Json;
        var expected = TinyReference.Floats(json.GetProperty("video").GetProperty("video_embedding_normalized"));
        var maxErr = MaxAbs(expected, emb);
        output.WriteLine($"{file}: video embedding max |diff| = {maxErr:E3}");
        Assert.True(maxErr <= EmbeddingTolerance, $"video embedding max |diff| {maxErr}");

        // Token counts per layer.
        var counts = json.GetProperty("token_counts").EnumerateArray().Select(c => c.GetProperty("tokens_per_clip").GetInt32()).ToArray();
        Assert.Equal([50, .. counts], encoder.TokensPerClip.Select(c => (int)c).ToArray());
        Assert.Equal(new long[] { 50, 48, 62, 79, 150, 135 }, encoder.TokensPerClip);

        // Every merge decision, row by row, in execution order.
        var merges = json.GetProperty("merges").EnumerateArray().ToArray();
        var kinds = new Dictionary<string, MergeKind> { ["imgme"] = MergeKind.ImgMe, ["cross_clip"] = MergeKind.CrossClip, ["intra_clip"] = MergeKind.IntraClip };
        var index = 0;
        foreach (var m in merges)
        {
            var rows = m.GetProperty("n_rows").GetInt32();
            for (var row = 0; row < rows; row++)
            {
                var got = trace.Merges[index++];
                Assert.Equal(m.GetProperty("layer").GetInt32(), got.Layer);
                Assert.Equal(kinds[m.GetProperty("kind").GetString()!], got.Kind);
                Assert.Equal(m.GetProperty("r").GetInt32(), got.R);
                Assert.Equal(m.GetProperty("cls_num").GetInt32(), got.Cls);
                Assert.Equal(m.GetProperty("n_tokens_in").GetInt32(), got.TokensIn);
                Assert.Equal(row, got.Row);
                Assert.Equal(TinyReference.Ints(m.GetProperty("src_idx_in_A")[row]), got.Src);
                Assert.Equal(TinyReference.Ints(m.GetProperty("dst_idx_in_B")[row]), got.Dst);
                Assert.Equal(TinyReference.Ints(m.GetProperty("unm_idx_in_A_sorted")[row]), got.Unm);
            }
        }

        Assert.Equal(index, trace.Merges.Count);

        // Per-layer first8 (the input after ln_pre, then every layer's output) and sizes.
        var perLayer = json.GetProperty("per_layer").EnumerateArray().ToArray();
        var states = trace.Hidden.Where(h => h.Point is "input" or "output").ToArray();
        Assert.Equal(perLayer.Length, states.Length);
        var worst = 0f;
        for (var i = 0; i < perLayer.Length; i++)
        {
            var shape = TinyReference.Ints(perLayer[i].GetProperty("shape"));
            var s = states[i];
            Assert.Equal(shape, new[] { s.Rows, s.Tokens, s.Width });
            var err = MaxAbs(TinyReference.Floats(perLayer[i].GetProperty("first8")), First8(s.X, s.Rows * s.Tokens, s.Width));
            worst = Math.Max(worst, err);
            if (perLayer[i].TryGetProperty("size", out var size))
            {
                Assert.Equal(TinyReference.Floats(size), s.Size);
            }
        }

        output.WriteLine($"{file}: per-layer first8 max |diff| = {worst:E3}");
        Assert.True(worst <= First8Tolerance, $"per-layer first8 max |diff| {worst}");

        // Inner checkpoints (before ln_1 after the cross-clip merge + temporal embedding, before ln_2).
        var inner = json.GetProperty("inner_checkpoints").EnumerateArray().ToArray();
        var innerStates = trace.Hidden.Where(h => h.Point is "before_ln_1" or "before_ln_2").ToArray();
        Assert.Equal(inner.Length, innerStates.Length);
        var worstInner = 0f;
        for (var i = 0; i < inner.Length; i++)
        {
            var s = innerStates[i];
            worstInner = Math.Max(worstInner, MaxAbs(TinyReference.Floats(inner[i].GetProperty("first8")), First8(s.X, s.Rows * s.Tokens, s.Width)));
        }

        output.WriteLine($"{file}: inner checkpoints first8 max |diff| = {worstInner:E3}");
        Assert.True(worstInner <= First8Tolerance, $"inner checkpoint max |diff| {worstInner}");
    }

    [Theory]
    [MemberData(nameof(WeightFiles))]
    public void Text_embeddings_match_the_reference(string file)
    {
        var encoder = EncoderFactory.Create(TinyReference.WeightsPath(file), 12, TinyReference.Options(), null);
        var emb = new float[3 * 32];
        var raw = new float[3 * 32];
        encoder.EncodeTexts(TinyReference.TextIds, TinyReference.TextMask, 3, 32, emb, raw);
        var text = TinyReference.Json.GetProperty("text");
        var err = MaxAbs(TinyReference.Floats(text.GetProperty("text_embedding_normalized")), emb);
        var errRaw = MaxAbs(TinyReference.Floats(text.GetProperty("text_feat_unnormalized")), raw);
        output.WriteLine($"{file}: text embedding max |diff| = {err:E3}, unnormalised {errRaw:E3}");
        Assert.True(err <= EmbeddingTolerance, $"text embedding max |diff| {err}");
    }

    [Fact]
    public void No_merge_mode_matches_the_meanP_baseline()
    {
        var encoder = EncoderFactory.Create(TinyReference.WeightsPath("weights.safetensors"), 12, TinyReference.Options(merge: false), null);
        var emb = new float[2 * 32];
        encoder.EncodeVideos(TinyReference.Video, 2, emb);
        var expected = TinyReference.Floats(TinyReference.Json.GetProperty("baseline_meanP").GetProperty("video_embedding_normalized"));
        var err = MaxAbs(expected, emb);
        output.WriteLine($"baseline meanP max |diff| = {err:E3}");
        Assert.True(err <= EmbeddingTolerance, $"baseline max |diff| {err}");
        Assert.All(encoder.TokensPerClip, c => Assert.Equal(50, c));
    }

    internal static float MaxAbs(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual)
    {
        Assert.True(actual.Length >= expected.Length, $"actual has {actual.Length} values, expected {expected.Length}");
        var max = 0f;
        for (var i = 0; i < expected.Length; i++)
        {
            var d = Math.Abs(expected[i] - actual[i]);
            if (float.IsNaN(d))
            {
                return float.PositiveInfinity;
            }

            max = Math.Max(max, d);
        }

        return max;
    }

    private static float[] First8(float[] x, int tokens, int width)
    {
        var r = new float[tokens * 8];
        for (var t = 0; t < tokens; t++)
        {
            Array.Copy(x, t * width, r, t * 8, 8);
        }

        return r;
    }

}

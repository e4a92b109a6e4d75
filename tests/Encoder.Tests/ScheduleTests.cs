namespace TempMe.Pipeline.Encoder.Tests;

public sealed class ScheduleTests
{
    [Fact]
    public void Vit_b32_twelve_frames_gives_the_papers_1x97()
    {
        var plans = TempMeSchedule.Default.Plan(12, 50, 12);
        Assert.Equal(new long[] { 50, 48, 46, 44, 42, 40, 38, 36, 34, 44, 56, 107, 97 }, TempMeSchedule.TokensPerClip(plans, 50));
        Assert.Equal((20, 4), (plans[8].RCross, plans[8].RAfter));
        Assert.Equal((26, 6), (plans[9].RCross, plans[9].RAfter));
        Assert.Equal((50, 11), (plans[10].RCross, plans[10].RAfter));
        Assert.Equal((LayerRole.IntraOnly, 10), (plans[11].Role, plans[11].RAfter));
        Assert.Equal(new[] { 48, 62, 118, 107 }, plans.Skip(8).Select(p => p.AttentionTokens).ToArray());
        Assert.Equal((1, 12), (plans[11].ClipsOut, plans[11].ClsOut));
    }

    [Fact]
    public void Vit_b16_twelve_frames_ends_at_493()
    {
        var plans = TempMeSchedule.Default.Plan(12, 197, 12);
        var counts = TempMeSchedule.TokensPerClip(plans, 197);
        Assert.Equal(new long[] { 197, 195, 193, 191, 189, 187, 185, 183, 181, 229, 289, 547, 493 }, counts);
        Assert.Equal((108, 25), (plans[8].RCross, plans[8].RAfter));
        Assert.Equal((137, 32), (plans[9].RCross, plans[9].RAfter));
        Assert.Equal((260, 60), (plans[10].RCross, plans[10].RAfter));
    }

    [Fact]
    public void Sixty_four_frames_work_with_2_2_2_and_4_4_4()
    {
        var s = TempMeSchedule.Default with { ClipGroups = [2, 2, 2] };
        var plans = s.Plan(12, 50, 64);
        Assert.Equal(new long[] { 34, 44, 56, 72, 65 }, TempMeSchedule.TokensPerClip(plans, 50)[8..]);
        Assert.Equal((8, 8), (plans[11].ClipsOut, plans[11].ClsOut));

        var s4 = TempMeSchedule.Default with { ClipGroups = [4, 4, 4] };
        Assert.Equal(new long[] { 87, 220, 555, 500 }, TempMeSchedule.TokensPerClip(s4.Plan(12, 50, 64), 50)[9..]);
    }

    [Fact]
    public void Sixty_four_frames_with_the_default_grouping_is_rejected_with_a_suggestion()
    {
        var ex = Assert.Throws<ModelLoadException>(() => TempMeSchedule.Default.Plan(12, 50, 64));
        Assert.Contains("2,2,3", ex.Message, StringComparison.Ordinal);
        Assert.Contains("2,2,2 or 4,4,4", ex.Message, StringComparison.Ordinal);

        var fromFactory = Assert.Throws<ModelLoadException>(() => EncoderFactory.Create("random:vit-b32", 64));
        Assert.Contains("2,2,2 or 4,4,4", fromFactory.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(new[] { 8, 9 }, new[] { 2, 2, 3 }, "one group per layer")]
    [InlineData(new[] { 9, 8, 10 }, new[] { 2, 2, 3 }, "increasing")]
    [InlineData(new[] { 8, 9, 12 }, new[] { 2, 2, 3 }, "within 0..11")]
    public void Bad_schedules_are_rejected(int[] layers, int[] groups, string message)
    {
        var s = TempMeSchedule.Default with { ClipLayers = layers, ClipGroups = groups };
        Assert.Contains(message, Assert.Throws<ModelLoadException>(() => s.Plan(12, 50, 12)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Random_vit_b32_encodes_twelve_frames_to_unit_vectors_with_the_expected_counts()
    {
        var notices = new StringWriter();
        var enc = EncoderFactory.Create("random:vit-b32", 12, notices);
        Assert.Contains("random weights", notices.ToString(), StringComparison.Ordinal);
        Assert.Contains("matrix products run on", notices.ToString(), StringComparison.Ordinal);
        Assert.Equal((512, 12, 224), (enc.EmbeddingSize, enc.FramesPerVideo, enc.ImageSize));
        Assert.Equal(enc.Fingerprint, EncoderFactory.Create("random:vit-b32", 12).Fingerprint);

        var frames = KernelsRandom(12 * 3 * 224 * 224);
        var emb = new float[512];
        var trace = new RecordingTrace();
        ((TempMeVideoEncoder)enc).EncodeVideos(frames, 1, default, emb, trace);
        var outputs = trace.Hidden.Where(h => h.Point == "output").Select(h => h.Tokens).ToArray();
        Assert.Equal(new[] { 48, 46, 44, 42, 40, 38, 36, 34, 44, 56, 107, 97 }, outputs);
        Assert.Equal(1f, MathF.Sqrt(emb.Sum(v => v * v)), 4);
    }

    [Fact]
    public void Random_vit_b16_encodes_one_video_to_493_tokens()
    {
        var enc = (TempMeVideoEncoder)EncoderFactory.Create("random:vit-b16", 12);
        var trace = new RecordingTrace();
        var emb = new float[512];
        enc.EncodeVideos(KernelsRandom(12 * 3 * 224 * 224), 1, default, emb, trace);
        Assert.Equal(493, trace.Hidden.Last(h => h.Point == "output").Tokens);
        Assert.Equal(493, enc.TokensPerClip[^1]);
        Assert.Equal(1f, MathF.Sqrt(emb.Sum(v => v * v)), 4);
    }

    [Fact]
    public void Tiny_model_runs_sixty_four_frames_with_2_2_2_and_interpolated_temporal_embeddings()
    {
        var notices = new StringWriter();
        var options = TinyReference.Options() with { Schedule = TempMeSchedule.Default with { ClipLayers = [1, 2, 3], ClipGroups = [2, 2, 2] } };
        var enc = EncoderFactory.Create(TinyReference.WeightsPath("weights.safetensors"), 64, options, notices);
        Assert.Contains("interpolated", notices.ToString(), StringComparison.Ordinal);
        var emb = new float[32];
        enc.EncodeVideos(TinyReference.Video.AsSpan(0, 12 * 3 * 224 * 224).ToArray().Concat(new float[52 * 3 * 224 * 224]).ToArray(), 1, emb);
        Assert.Equal(1f, MathF.Sqrt(emb.Sum(v => v * v)), 4);
        Assert.Equal(8, enc.Vision.Plans[^1].ClipsOut);
    }

    [Fact]
    public void Frame_mask_excludes_padded_frames_from_the_mean_only()
    {
        var enc = EncoderFactory.Create(TinyReference.WeightsPath("weights.safetensors"), 12, TinyReference.Options(), null);
        var all = new float[64];
        var masked = new float[64];
        enc.EncodeVideos(TinyReference.Video, 2, all);
        var mask = Enumerable.Repeat(1f, 24).ToArray();
        mask[5] = 0;
        enc.EncodeVideos(TinyReference.Video, 2, mask, masked, null);
        Assert.Equal(all[32..], masked[32..]);
        Assert.NotEqual(all[..32], masked[..32]);
        Assert.Throws<ArgumentException>(() => enc.EncodeVideos(new float[10], 1, new float[32]));
    }

    private static float[] KernelsRandom(int n) => Kernels.KernelTestData.Random(n, 42, 2f);
}

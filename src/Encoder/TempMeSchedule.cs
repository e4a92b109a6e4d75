using System.Globalization;
using TempMe.Pipeline.Encoder.Kernels;

namespace TempMe.Pipeline.Encoder;

/// <summary>What a visual layer does (docs/ENCODER.md, section 5).</summary>
internal enum LayerRole
{
    /// <summary>No merging (plain CLIP, or merging switched off).</summary>
    Plain,

    /// <summary>ImgMe: merge r tokens per frame after attention (key metric).</summary>
    ImgMe,

    /// <summary>ClipMe: regroup f clips into one, cross-clip merge before LN1, intra-clip merge after attention.</summary>
    ClipMe,

    /// <summary>Intra-clip merge only, after attention.</summary>
    IntraOnly,
}

/// <summary>The plan for one visual layer: counts entering it, merge amounts, counts leaving it (per clip/row).</summary>
internal sealed record LayerPlan(int Layer, LayerRole Role, int Group, int ClipsIn, int ClsIn, int TokensIn, int RCross, int RAfter, int ClipsOut, int ClsOut, int TokensOut)
{
    /// <summary>Tokens per row during attention.</summary>
    public int AttentionTokens => (TokensIn * Group) - RCross;
}

/// <summary>
/// TempMe merge schedule (defaults = the authors' arguments: tome_r 2, merge_layer 8-9-10, merge_frame_num 2-2-3,
/// merge_token_proportion 30-10, frame_pos 1, prop-attn on). <see cref="Merge"/> false gives plain CLIP (CLIP4Clip meanP).
/// </summary>
internal sealed record TempMeSchedule
{
    /// <summary>Whether any merging happens.</summary>
    public bool Merge { get; init; } = true;

    /// <summary>Tokens merged per frame in each ImgMe layer.</summary>
    public int ImgMeR { get; init; } = 2;

    /// <summary>0-based ClipMe layers, increasing.</summary>
    public IReadOnlyList<int> ClipLayers { get; init; } = [8, 9, 10];

    /// <summary>Clips merged into one at each ClipMe layer.</summary>
    public IReadOnlyList<int> ClipGroups { get; init; } = [2, 2, 3];

    /// <summary>Cross-clip merged fraction p_c.</summary>
    public double CrossRatio { get; init; } = 0.30;

    /// <summary>Intra-clip merged fraction p_i.</summary>
    public double IntraRatio { get; init; } = 0.10;

    /// <summary>Whether ClipMe layers add the temporal positional embedding.</summary>
    public bool TemporalPos { get; init; } = true;

    /// <summary>Whether attention adds log(size) to the logits.</summary>
    public bool PropAttn { get; init; } = true;

    /// <summary>The authors' defaults.</summary>
    public static TempMeSchedule Default { get; } = new();

    /// <summary>Plain CLIP with mean pooling over frames.</summary>
    public static TempMeSchedule NoMerge { get; } = new() { Merge = false };

    /// <summary>A stable one-line description (part of the fingerprint).</summary>
    public string Describe() => !Merge
        ? "no-merge (CLIP meanP)"
        : string.Create(CultureInfo.InvariantCulture, $"tempme imgme_r={ImgMeR} clip_layers={string.Join(',', ClipLayers)} groups={string.Join(',', ClipGroups)} cross={CrossRatio:R} intra={IntraRatio:R} temporal_pos={TemporalPos} prop_attn={PropAttn}");

    /// <summary>
    /// Works out every layer's counts for a model of <paramref name="layers"/> layers and <paramref name="tokensPerFrame"/>
    /// tokens per frame (CLS included). Throws <see cref="ModelLoadException"/> naming the bad setting and a fix.
    /// </summary>
    public IReadOnlyList<LayerPlan> Plan(int layers, int tokensPerFrame, int frames)
    {
        if (frames <= 0)
        {
            throw new ModelLoadException($"frames per video must be positive (got {frames}).");
        }

        if (!Merge)
        {
            return [.. Enumerable.Range(0, layers).Select(l => new LayerPlan(l, LayerRole.Plain, 1, frames, 1, tokensPerFrame, 0, 0, frames, 1, tokensPerFrame))];
        }

        Validate(layers, frames);
        var plans = new List<LayerPlan>(layers);
        var first = ClipLayers.Count > 0 ? ClipLayers[0] : int.MaxValue;
        int clips = frames, cls = 1, n = tokensPerFrame;
        for (var l = 0; l < layers; l++)
        {
            var idx = IndexOf(ClipLayers, l);
            var plan = idx >= 0 ? ClipMePlan(l, ClipGroups[idx], clips, cls, n)
                : l < first ? ImgMePlan(l, clips, cls, n)
                : IntraOnlyPlan(l, clips, cls, n);
            plans.Add(plan);
            (clips, cls, n) = (plan.ClipsOut, plan.ClsOut, plan.TokensOut);
        }

        return plans;
    }

    /// <summary>Groups <paramref name="f"/> clips into one; merges p_c of the tokens across them, then p_i of the rest within the clip.</summary>
    private LayerPlan ClipMePlan(int layer, int f, int clips, int cls, int n)
    {
        var rCross = Math.Min((int)Math.Floor(n * f * CrossRatio), (n - cls) * f / 2);
        var rIntra = Math.Min((int)Math.Floor(((n * f) - rCross) * IntraRatio), (((n - cls) * f) - rCross) / 2);
        return new LayerPlan(layer, LayerRole.ClipMe, f, clips, cls, n, rCross, rIntra, clips / f, cls * f, (n * f) - rCross - rIntra);
    }

    /// <summary>Merges <see cref="ImgMeR"/> tokens per frame (fewer when the row has not that many A tokens).</summary>
    private LayerPlan ImgMePlan(int layer, int clips, int cls, int n)
    {
        var r = Math.Min(ImgMeR, BipartiteMatch.SizeA(n, cls));
        return new LayerPlan(layer, LayerRole.ImgMe, 1, clips, cls, n, 0, r, clips, cls, n - r);
    }

    /// <summary>Merges p_i of the tokens within each clip.</summary>
    private LayerPlan IntraOnlyPlan(int layer, int clips, int cls, int n)
    {
        var r = Math.Min((int)Math.Floor(n * IntraRatio), (n - cls) / 2);
        return new LayerPlan(layer, LayerRole.IntraOnly, 1, clips, cls, n, 0, r, clips, cls, n - r);
    }

    /// <summary>Tokens per clip entering layer 0, then after each layer.</summary>
    public static long[] TokensPerClip(IReadOnlyList<LayerPlan> plans, int tokensPerFrame)
    {
        var result = new long[plans.Count + 1];
        result[0] = tokensPerFrame;
        for (var i = 0; i < plans.Count; i++)
        {
            result[i + 1] = plans[i].TokensOut;
        }

        return result;
    }

    /// <summary>Suggests groupings of <paramref name="count"/> entries whose product divides <paramref name="frames"/>.</summary>
    internal static string SuggestGroups(int frames, int count)
    {
        var uniform = new List<string>();
        for (var g = 2; g <= frames && uniform.Count < 2; g++)
        {
            var p = Math.Pow(g, count);
            if (p <= frames && frames % (long)p == 0)
            {
                uniform.Add(string.Join(',', Enumerable.Repeat(g, count)));
            }
        }

        if (uniform.Count > 0)
        {
            return string.Join(" or ", uniform);
        }

        var found = new List<string>();
        Search(frames, count, [], found);
        return found.Count > 0 ? string.Join(" or ", found) : $"fewer ClipMe layers (--clip-layers) or a frame count with more factors";
    }

    private static void Search(int remaining, int count, List<int> current, List<string> found)
    {
        if (found.Count >= 2)
        {
            return;
        }

        if (current.Count == count)
        {
            found.Add(string.Join(',', current));
            return;
        }

        for (var g = 2; g <= remaining; g++)
        {
            if (remaining % g == 0)
            {
                current.Add(g);
                Search(remaining / g, count, current, found);
                current.RemoveAt(current.Count - 1);
            }
        }
    }

    private static int IndexOf(IReadOnlyList<int> list, int value)
    {
        for (var i = 0; i < list.Count; i++)
        {
            if (list[i] == value)
            {
                return i;
            }
        }

        return -1;
    }

    private void Validate(int layers, int frames)
    {
        if (ClipLayers.Count != ClipGroups.Count)
        {
            throw new ModelLoadException($"schedule: {ClipLayers.Count} ClipMe layers ({string.Join(',', ClipLayers)}) but {ClipGroups.Count} groups ({string.Join(',', ClipGroups)}); give one group per layer.");
        }

        if (ImgMeR < 0 || CrossRatio is < 0 or >= 1 || IntraRatio is < 0 or >= 1)
        {
            throw new ModelLoadException($"schedule: imgme r must be ≥ 0 and merge fractions in [0, 1) (got r={ImgMeR}, cross={CrossRatio}, intra={IntraRatio}).");
        }

        for (var i = 0; i < ClipLayers.Count; i++)
        {
            if (ClipLayers[i] < 0 || ClipLayers[i] >= layers || (i > 0 && ClipLayers[i] <= ClipLayers[i - 1]))
            {
                throw new ModelLoadException($"schedule: ClipMe layers {string.Join(',', ClipLayers)} must be increasing and within 0..{layers - 1} for this {layers}-layer model; pass --clip-layers accordingly.");
            }
        }

        var clips = frames;
        for (var i = 0; i < ClipGroups.Count; i++)
        {
            var f = ClipGroups[i];
            if (f < 1 || clips % f != 0)
            {
                throw new ModelLoadException(
                    $"schedule: clip grouping {string.Join(',', ClipGroups)} does not divide {frames} frames (at ClipMe layer {ClipLayers[i]}, {clips} clips cannot be grouped by {f}); " +
                    $"use a grouping such as {SuggestGroups(frames, ClipGroups.Count)} (--clip-groups).");
            }

            clips /= f;
        }
    }
}

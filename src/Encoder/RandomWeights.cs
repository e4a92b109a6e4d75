using System.Security.Cryptography;
using System.Text;

namespace TempMe.Pipeline.Encoder;

/// <summary>
/// Seeded random weights of real CLIP ViT sizes (<c>random:vit-b32</c>, <c>random:vit-b16</c>) for benchmarks and tests.
/// The same spec, seed and frame count always give the same weights; embeddings are meaningless.
/// </summary>
internal static class RandomWeights
{
    /// <summary>The fixed seed.</summary>
    public const ulong Seed = 20250101;

    /// <summary>Known presets: name → (patch, grid, width, layers, output dim).</summary>
    public static readonly IReadOnlyDictionary<string, (int Patch, int Grid, int Width, int Layers, int OutputDim)> Presets =
        new Dictionary<string, (int, int, int, int, int)>(StringComparer.OrdinalIgnoreCase)
        {
            ["vit-b32"] = (32, 7, 768, 12, 512),
            ["vit-b16"] = (16, 14, 768, 12, 512),
        };

    /// <summary>Builds a visual encoder (and optionally a text encoder) with temporal embeddings sized for <paramref name="schedule"/>.</summary>
    public static ClipWeights Create(string preset, int frames, TempMeSchedule schedule, int? visionHeads, bool withText, int? textHeads)
    {
        if (!Presets.TryGetValue(preset, out var p))
        {
            throw new ModelLoadException($"random:{preset}: unknown preset; use random:vit-b32 or random:vit-b16.");
        }

        var (patch, grid, d, layers, e) = p;
        var heads = visionHeads ?? (d / 64);
        if (heads <= 0 || d % heads != 0)
        {
            throw new ModelLoadException($"random:{preset}: vision heads {heads} must divide the width {d}.");
        }

        var vision = Vision(patch, grid, d, layers, e, heads, schedule.Plan(layers, (grid * grid) + 1, frames));
        var text = withText ? Text(e, textHeads) : null;
        var spec = $"random:{preset.ToLowerInvariant()} seed={Seed} frames={frames} schedule={schedule.Describe()} heads={heads}";
        return new ClipWeights
        {
            Vision = vision,
            Text = text,
            WeightsHash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(spec))),
            Source = $"random:{preset.ToLowerInvariant()} (seed {Seed})",
            IsRandom = true,
        };
    }

    /// <summary>The visual tower; ClipMe layers get a temporal embedding for the clips that enter them.</summary>
    private static VisionWeights Vision(int patch, int grid, int d, int layers, int e, int heads, IReadOnlyList<LayerPlan> plans)
    {
        var m = 4 * d;
        var tokens = (grid * grid) + 1;
        var blocks = new BlockWeights[layers];
        Parallel.For(0, layers, l =>
        {
            blocks[l] = Block($"visual.{l}", d, m, layers);
            var plan = plans[l];
            if (plan.Role == LayerRole.ClipMe)
            {
                blocks[l].TemporalPos = Fill($"visual.{l}.temporal", plan.ClipsIn * d, 0.02f);
                blocks[l].TemporalClips = plan.ClipsIn;
            }
        });

        return new VisionWeights
        {
            Width = d,
            Patch = patch,
            Grid = grid,
            OutputDim = e,
            MlpWidth = m,
            Heads = heads,
            ConvWeight = Fill("visual.conv1", d * 3 * patch * patch, 1f / MathF.Sqrt(3 * patch * patch)),
            ClassEmbedding = Fill("visual.class", d, 1f / MathF.Sqrt(d)),
            PositionalEmbedding = Fill("visual.pos", tokens * d, 1f / MathF.Sqrt(d)),
            LnPreWeight = Const(d, 1f),
            LnPreBias = Const(d, 0f),
            LnPostWeight = Const(d, 1f),
            LnPostBias = Const(d, 0f),
            Projection = Fill("visual.proj", d * e, 1f / MathF.Sqrt(d)),
            Blocks = blocks,
        };
    }

    /// <summary>A CLIP-sized text tower (width 512, context 77, 12 layers) projecting to <paramref name="e"/>.</summary>
    private static TextWeights Text(int e, int? textHeads)
    {
        const int W = 512, Ctx = 77, Vocab = 49408, TextLayers = 12;
        var tb = new BlockWeights[TextLayers];
        Parallel.For(0, TextLayers, l => tb[l] = Block($"text.{l}", W, 4 * W, TextLayers));
        return new TextWeights
        {
            Width = W,
            Context = Ctx,
            VocabSize = Vocab,
            OutputDim = e,
            MlpWidth = 4 * W,
            Heads = textHeads ?? (W / 64),
            TokenEmbedding = Fill("text.tok", Vocab * W, 0.02f),
            PositionalEmbedding = Fill("text.pos", Ctx * W, 0.01f),
            LnFinalWeight = Const(W, 1f),
            LnFinalBias = Const(W, 0f),
            Projection = Fill("text.proj", W * e, 1f / MathF.Sqrt(W)),
            Blocks = tb,
        };
    }

    private static BlockWeights Block(string name, int d, int m, int layers)
    {
        var attnStd = 1f / MathF.Sqrt(d);
        var projStd = attnStd / MathF.Sqrt(2 * layers);
        var fcStd = 1f / MathF.Sqrt(2 * d);
        return new BlockWeights
        {
            InProjWeight = Fill(name + ".in", 3 * d * d, attnStd),
            InProjBias = Const(3 * d, 0f),
            OutProjWeight = Fill(name + ".out", d * d, projStd),
            OutProjBias = Const(d, 0f),
            Ln1Weight = Const(d, 1f),
            Ln1Bias = Const(d, 0f),
            Ln2Weight = Const(d, 1f),
            Ln2Bias = Const(d, 0f),
            FcWeight = Fill(name + ".fc", m * d, fcStd),
            FcBias = Const(m, 0f),
            ProjWeight = Fill(name + ".proj", d * m, projStd),
            ProjBias = Const(d, 0f),
        };
    }

    private static float[] Const(int n, float v)
    {
        var a = new float[n];
        Array.Fill(a, v);
        return a;
    }

    /// <summary>Uniform values with standard deviation <paramref name="std"/>, from a SplitMix64 stream seeded by the name.</summary>
    private static float[] Fill(string name, int n, float std)
    {
        var state = Seed;
        foreach (var c in name)
        {
            state = (state ^ c) * 0x100000001B3UL;
        }

        var a = new float[n];
        var scale = std * MathF.Sqrt(3f) * 2f / (1 << 24);
        var offset = std * MathF.Sqrt(3f);
        for (var i = 0; i < n; i++)
        {
            state += 0x9E3779B97F4A7C15UL;
            var z = state;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
            z ^= z >> 31;
            a[i] = ((z >> 40) * scale) - offset;
        }

        return a;
    }
}

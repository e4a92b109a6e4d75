using System.Numerics.Tensors;
using TempMe.Pipeline.Encoder.Kernels;

namespace TempMe.Pipeline.Encoder;

/// <summary>
/// CLIP text encoder (docs/ENCODER.md, section 7): token + positional embedding, pre-LN blocks with a causal and padding mask,
/// ln_final, the EOT position (argmax of the ids) projected by text_projection.
/// </summary>
internal sealed class TextTransformer(TextWeights w)
{
    /// <summary>Weights.</summary>
    public TextWeights Weights => w;

    /// <summary>
    /// Encodes <paramref name="count"/> sequences of <paramref name="length"/> ids (mask 1 = real token) and writes the
    /// unnormalised features <c>[count, E]</c> to <paramref name="features"/>.
    /// </summary>
    public void Encode(ReadOnlySpan<long> ids, ReadOnlySpan<long> mask, int count, int length, Span<float> features)
    {
        var d = w.Width;
        var e = w.OutputDim;
        if (length > w.Context)
        {
            throw new ArgumentException($"text length {length} exceeds the context {w.Context}");
        }

        if (ids.Length < count * length || (!mask.IsEmpty && mask.Length < count * length) || features.Length < count * e)
        {
            throw new ArgumentException("text buffers too short");
        }

        var (x, bias) = Embed(ids, mask, count, length);
        var work = new BlockBuffers(count * length, d, w.MlpWidth);
        foreach (var block in w.Blocks)
        {
            Block(block, x, bias, count, length, work);
        }

        var pooled = PoolEndOfText(x, ids, count, length);
        MatMul.Gemm(false, count, e, d, 1f, pooled, d, w.Projection, e, 0f, features, e);
    }

    /// <summary>Token plus positional embeddings <c>[count·length, D]</c>, and the key bias that hides padding (−∞ where the mask is 0).</summary>
    private (float[] X, float[] Bias) Embed(ReadOnlySpan<long> ids, ReadOnlySpan<long> mask, int count, int length)
    {
        var d = w.Width;
        var tokens = count * length;
        var x = new float[tokens * d];
        var bias = new float[tokens];
        for (var t = 0; t < tokens; t++)
        {
            var id = ids[t];
            if (id < 0 || id >= w.VocabSize)
            {
                throw new ArgumentException($"token id {id} at position {t % length} of text {t / length} is outside the vocabulary 0..{w.VocabSize - 1}");
            }

            TensorPrimitives.Add(w.TokenEmbedding.AsSpan((int)id * d, d), w.PositionalEmbedding.AsSpan(t % length * d, d), x.AsSpan(t * d, d));
            bias[t] = mask.IsEmpty || mask[t] != 0 ? 0f : float.NegativeInfinity;
        }

        return (x, bias);
    }

    /// <summary>One pre-LN block in place: causal attention under the padding bias, then the QuickGELU MLP.</summary>
    private void Block(BlockWeights block, float[] x, float[] bias, int count, int length, BlockBuffers work)
    {
        var d = w.Width;
        var tokens = count * length;
        var heads = w.Heads;
        var hd = d / heads;
        var (ln, qkv, attn, hidden) = (work.Ln, work.Qkv, work.Attn, work.Hidden);
        LayerNorm.Rows(x, ln, tokens, d, block.Ln1Weight, block.Ln1Bias);
        MatMul.Linear(ln, tokens, d, block.InProjWeight, block.InProjBias, 3 * d, qkv);
        ParallelRows.For(count * heads, false, job =>
        {
            var s = job / heads;
            var scores = new float[length];
            Attention.Head(qkv.AsSpan(s * length * 3 * d, length * 3 * d), length, d, job % heads, hd, bias.AsSpan(s * length, length), true, attn.AsSpan(s * length * d, length * d), scores);
        });
        MatMul.Linear(attn, tokens, d, block.OutProjWeight, block.OutProjBias, d, ln);
        TensorPrimitives.Add(x, ln, x);
        LayerNorm.Rows(x, ln, tokens, d, block.Ln2Weight, block.Ln2Bias);
        MatMul.Linear(ln, tokens, d, block.FcWeight, block.FcBias, w.MlpWidth, hidden);
        QuickGelu.ApplyInPlace(hidden);
        MatMul.Linear(hidden, tokens, w.MlpWidth, block.ProjWeight, block.ProjBias, d, ln);
        TensorPrimitives.Add(x, ln, x);
    }

    /// <summary><c>ln_final</c> of each sequence's end-of-text token (its largest id) <c>[count, D]</c>.</summary>
    private float[] PoolEndOfText(float[] x, ReadOnlySpan<long> ids, int count, int length)
    {
        var d = w.Width;
        var pooled = new float[count * d];
        for (var s = 0; s < count; s++)
        {
            var seq = ids.Slice(s * length, length);
            var eot = 0;
            for (var t = 1; t < length; t++)
            {
                if (seq[t] > seq[eot])
                {
                    eot = t;
                }
            }

            LayerNorm.Apply(x.AsSpan(((s * length) + eot) * d, d), pooled.AsSpan(s * d, d), w.LnFinalWeight, w.LnFinalBias);
        }

        return pooled;
    }

    /// <summary>Work buffers of one <see cref="Encode"/> call, shared by its blocks.</summary>
    private sealed class BlockBuffers(int tokens, int width, int mlpWidth)
    {
        public float[] Ln { get; } = new float[tokens * width];

        public float[] Qkv { get; } = new float[tokens * 3 * width];

        public float[] Attn { get; } = new float[tokens * width];

        public float[] Hidden { get; } = new float[tokens * mlpWidth];
    }
}

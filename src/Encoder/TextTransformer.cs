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

        var tokens = count * length;
        var x = new float[tokens * d];
        var ln = new float[tokens * d];
        var qkv = new float[tokens * 3 * d];
        var attn = new float[tokens * d];
        var hidden = new float[tokens * w.MlpWidth];
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

        var heads = w.Heads;
        var hd = d / heads;
        foreach (var blk in w.Blocks)
        {
            LayerNorm.Rows(x, ln, tokens, d, blk.Ln1Weight, blk.Ln1Bias);
            MatMul.Linear(ln, tokens, d, blk.InProjWeight, blk.InProjBias, 3 * d, qkv);
            ParallelRows.For(count * heads, false, job =>
            {
                var s = job / heads;
                var scores = new float[length];
                Attention.Head(qkv.AsSpan(s * length * 3 * d, length * 3 * d), length, d, job % heads, hd, bias.AsSpan(s * length, length), true, attn.AsSpan(s * length * d, length * d), scores);
            });
            MatMul.Linear(attn, tokens, d, blk.OutProjWeight, blk.OutProjBias, d, ln);
            TensorPrimitives.Add(x, ln, x);
            LayerNorm.Rows(x, ln, tokens, d, blk.Ln2Weight, blk.Ln2Bias);
            MatMul.Linear(ln, tokens, d, blk.FcWeight, blk.FcBias, w.MlpWidth, hidden);
            QuickGelu.ApplyInPlace(hidden);
            MatMul.Linear(hidden, tokens, w.MlpWidth, blk.ProjWeight, blk.ProjBias, d, ln);
            TensorPrimitives.Add(x, ln, x);
        }

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

        MatMul.Gemm(false, count, e, d, 1f, pooled, d, w.Projection, e, 0f, features, e);
    }
}

using System.Numerics.Tensors;
using TempMe.Pipeline.Encoder.Kernels;

namespace TempMe.Pipeline.Encoder;

/// <summary>
/// CLIP ViT visual encoder with TempMe merging (docs/ENCODER.md, sections 2–6). Frames of a batch of videos go through every GEMM
/// together (rows = tokens of all frames). Buffers are reused between calls; one call at a time.
/// </summary>
internal sealed class VisionTransformer
{
    private readonly VisionWeights _weights;
    private readonly float[]?[] _temporal;
    private readonly int _frames;
    private readonly int _headDim;

    private readonly PhaseClock _clock = new();

    private float[] _x = [], _alt = [], _size = [], _sizeAlt = [], _ln = [], _qkv = [], _attn = [], _hidden = [], _metric = [], _keyBias = [];
    private int[] _srcIdx = [], _dstIdx = [], _unmIdx = [];

    /// <summary>Creates the encoder for <paramref name="frames"/> frames per video.</summary>
    public VisionTransformer(VisionWeights weights, TempMeSchedule schedule, int frames, TextWriter? notices)
    {
        _weights = weights;
        Schedule = schedule;
        _frames = frames;
        _headDim = _weights.Width / _weights.Heads;
        Plans = schedule.Plan(_weights.Blocks.Length, _weights.TokensPerFrame, frames);
        _temporal = new float[]?[_weights.Blocks.Length];
        foreach (var p in Plans)
        {
            if (p.Role != LayerRole.ClipMe || !schedule.TemporalPos || p.RCross == 0)
            {
                continue;
            }

            var b = _weights.Blocks[p.Layer];
            if (b.TemporalPos is null)
            {
                continue;
            }

            if (b.TemporalClips == p.ClipsIn)
            {
                _temporal[p.Layer] = b.TemporalPos;
            }
            else
            {
                _temporal[p.Layer] = Interpolate(b.TemporalPos, b.TemporalClips, p.ClipsIn, _weights.Width);
                notices?.WriteLine($"notice: layer {p.Layer} temporal embedding has {b.TemporalClips} clips but {p.ClipsIn} enter the layer: interpolated linearly.");
            }
        }
    }

    /// <summary>The schedule in use.</summary>
    public TempMeSchedule Schedule { get; }

    /// <summary>Per-layer plan.</summary>
    public IReadOnlyList<LayerPlan> Plans { get; }

    /// <summary>Weights.</summary>
    public VisionWeights Weights => _weights;

    /// <summary>Multiply-add count ×2 (FLOPs) of one video through this schedule, for benchmarks.</summary>
    public double FlopsPerVideo()
    {
        double d = _weights.Width, m = _weights.MlpWidth, p = _weights.Patch;
        double total = 2.0 * _frames * (_weights.TokensPerFrame - 1) * 3 * p * p * d;
        foreach (var pl in Plans)
        {
            var rowsOut = pl.ClipsOut;
            var n = pl.AttentionTokens;
            var nOut = pl.TokensOut;
            total += rowsOut * ((2.0 * n * d * 3 * d) + (4.0 * n * n * d) + (2.0 * n * d * d) + (4.0 * nOut * d * m));
        }

        return total + (2.0 * _frames * d * _weights.OutputDim);
    }

    /// <summary>
    /// Encodes <paramref name="videos"/> videos <c>[B, T, 3, S, S]</c> into unit-length rows <c>[B, E]</c>.
    /// <paramref name="frameMask"/> (<c>[B, T]</c>, 1 = real frame) weights the final mean; empty = all frames.
    /// </summary>
    public void Encode(ReadOnlySpan<float> video, int videos, ReadOnlySpan<float> frameMask, Span<float> output, IEncoderTrace? trace = null)
    {
        var s = _weights.ImageSize;
        var frameLen = 3 * s * s;
        var d = _weights.Width;
        if (video.Length < (long)videos * _frames * frameLen || output.Length < videos * _weights.OutputDim)
        {
            throw new ArgumentException($"expected {videos}×{_frames}×3×{s}×{s} input floats and {videos}×{_weights.OutputDim} output floats");
        }

        var rows = videos * _frames;
        var n = _weights.TokensPerFrame;
        var cls = 1;
        EnsureBuffers((long)rows * MaxTokensPerFrame());

        _clock.Start();
        Embed(video, rows);
        _clock.Mark(EncoderPhase.Embed);
        _size.AsSpan(0, rows * n).Fill(1f);
        var hasSize = false;
        trace?.OnHidden(-1, "input", _x.AsSpan(0, rows * n * d), _size.AsSpan(0, rows * n), rows, n, d);

        foreach (var plan in Plans)
        {
            var block = _weights.Blocks[plan.Layer];
            if (plan.Role == LayerRole.ClipMe)
            {
                hasSize |= MergeAcrossClips(plan, ref rows, ref n, ref cls, trace);
            }

            trace?.OnHidden(plan.Layer, "before_ln_1", _x.AsSpan(0, rows * n * d), _size.AsSpan(0, rows * n), rows, n, d);
            AttentionBlock(block, rows, n, hasSize && Schedule.PropAttn);
            if (plan.RAfter > 0)
            {
                n = MergeAfterAttention(plan, rows, n, cls, trace);
                hasSize = true;
            }

            var tokens = rows * n;
            trace?.OnHidden(plan.Layer, "before_ln_2", _x.AsSpan(0, tokens * d), _size.AsSpan(0, tokens), rows, n, d);
            MlpBlock(block, tokens);
            trace?.OnHidden(plan.Layer, "output", _x.AsSpan(0, tokens * d), _size.AsSpan(0, tokens), rows, n, d);
        }

        Pool(videos, rows, n, cls, frameMask, output);
        _clock.Report();
    }

    /// <summary>Grows the work buffers to hold <paramref name="maxTokens"/> tokens (they are kept between calls).</summary>
    private void EnsureBuffers(long maxTokens)
    {
        var d = _weights.Width;
        Ensure(ref _x, maxTokens * d);
        Ensure(ref _alt, maxTokens * d);
        Ensure(ref _ln, maxTokens * Math.Max(d, 3 * _weights.Patch * _weights.Patch));
        Ensure(ref _qkv, maxTokens * 3 * d);
        Ensure(ref _attn, maxTokens * d);
        Ensure(ref _hidden, maxTokens * _weights.MlpWidth);
        Ensure(ref _metric, maxTokens * _headDim);
        Ensure(ref _size, maxTokens);
        Ensure(ref _sizeAlt, maxTokens);
        Ensure(ref _keyBias, maxTokens);
        Ensure(ref _srcIdx, maxTokens);
        Ensure(ref _dstIdx, maxTokens);
        Ensure(ref _unmIdx, maxTokens);
    }

    /// <summary>
    /// A ClipMe layer's start: regroups every <c>Group</c> clips into one row, then merges <c>RCross</c> tokens across
    /// them on the hidden state (adding the temporal embedding between matching and merging). Returns whether it merged.
    /// </summary>
    private bool MergeAcrossClips(LayerPlan plan, ref int rows, ref int n, ref int cls, IEncoderTrace? trace)
    {
        var d = _weights.Width;
        var f = plan.Group;
        Regroup(rows, n, cls, f);
        rows /= f;
        n *= f;
        cls *= f;
        if (plan.RCross == 0)
        {
            return false;
        }

        _clock.Mark(EncoderPhase.Other);
        MatchRows(plan.Layer, MergeKind.CrossClip, _x, d, d, rows, n, cls, plan.RCross, trace);
        _clock.Mark(EncoderPhase.Match);
        if (_temporal[plan.Layer] is { } e)
        {
            AddTemporal(e, rows, n, cls / f, f, plan.ClipsIn);
        }

        _clock.Mark(EncoderPhase.Other);
        MergeRows(rows, n, cls, plan.RCross);
        _clock.Mark(EncoderPhase.Merge);
        n -= plan.RCross;
        return true;
    }

    /// <summary><c>x += out_proj(attention(in_proj(ln_1(x))))</c>, with log(size) added to the keys' logits when <paramref name="useSizeBias"/>.</summary>
    private void AttentionBlock(BlockWeights block, int rows, int n, bool useSizeBias)
    {
        var d = _weights.Width;
        var tokens = rows * n;
        _clock.Mark(EncoderPhase.Other);
        LayerNorm.Rows(_x, _ln, tokens, d, block.Ln1Weight, block.Ln1Bias);
        _clock.Mark(EncoderPhase.LayerNorm);
        MatMul.Linear(_ln.AsSpan(0, tokens * d), tokens, d, block.InProjWeight, block.InProjBias, 3 * d, _qkv);
        _clock.Mark(EncoderPhase.Gemm);
        if (useSizeBias)
        {
            TensorPrimitives.Log(_size.AsSpan(0, tokens), _keyBias.AsSpan(0, tokens));
        }

        AttentionRows(rows, n, useSizeBias);
        _clock.Mark(EncoderPhase.Attention);
        MatMul.Linear(_attn.AsSpan(0, tokens * d), tokens, d, block.OutProjWeight, block.OutProjBias, d, _ln);
        _clock.Mark(EncoderPhase.Gemm);
        TensorPrimitives.Add(_x.AsSpan(0, tokens * d), _ln.AsSpan(0, tokens * d), _x.AsSpan(0, tokens * d));
    }

    /// <summary>The ImgMe or intra-clip merge of <c>RAfter</c> tokens per row on the key metric; returns the tokens per row left.</summary>
    private int MergeAfterAttention(LayerPlan plan, int rows, int n, int cls, IEncoderTrace? trace)
    {
        _clock.Mark(EncoderPhase.Other);
        KeyMetric(rows * n);
        MatchRows(plan.Layer, plan.Role == LayerRole.ImgMe ? MergeKind.ImgMe : MergeKind.IntraClip, _metric, _headDim, _headDim, rows, n, cls, plan.RAfter, trace);
        _clock.Mark(EncoderPhase.Match);
        MergeRows(rows, n, cls, plan.RAfter);
        _clock.Mark(EncoderPhase.Merge);
        return n - plan.RAfter;
    }

    /// <summary><c>x += c_proj(QuickGELU(c_fc(ln_2(x))))</c>.</summary>
    private void MlpBlock(BlockWeights block, int tokens)
    {
        var d = _weights.Width;
        var mlp = _weights.MlpWidth;
        _clock.Mark(EncoderPhase.Other);
        LayerNorm.Rows(_x, _ln, tokens, d, block.Ln2Weight, block.Ln2Bias);
        _clock.Mark(EncoderPhase.LayerNorm);
        MatMul.Linear(_ln.AsSpan(0, tokens * d), tokens, d, block.FcWeight, block.FcBias, mlp, _hidden);
        _clock.Mark(EncoderPhase.Gemm);
        QuickGelu.ApplyInPlace(_hidden.AsSpan(0, tokens * mlp));
        _clock.Mark(EncoderPhase.Gelu);
        MatMul.Linear(_hidden.AsSpan(0, tokens * mlp), tokens, mlp, block.ProjWeight, block.ProjBias, d, _ln);
        _clock.Mark(EncoderPhase.Gemm);
        TensorPrimitives.Add(_x.AsSpan(0, tokens * d), _ln.AsSpan(0, tokens * d), _x.AsSpan(0, tokens * d));
    }

    /// <summary>Frame embeddings <c>LN_post(CLS_t)·proj</c> of the last <see cref="Encode"/> call are not kept; this pools and normalises.</summary>
    private void Pool(int videos, int rows, int n, int cls, ReadOnlySpan<float> frameMask, Span<float> output)
    {
        var d = _weights.Width;
        var e = _weights.OutputDim;
        var clipsPerVideo = rows / videos;
        var clsRows = videos * _frames;
        var gathered = _ln.AsSpan(0, clsRows * d);
        for (var v = 0; v < videos; v++)
        {
            for (var j = 0; j < clipsPerVideo; j++)
            {
                var row = (v * clipsPerVideo) + j;
                _x.AsSpan(row * n * d, cls * d).CopyTo(gathered.Slice(((v * _frames) + (j * cls)) * d, cls * d));
            }
        }

        LayerNorm.Rows(gathered, gathered, clsRows, d, _weights.LnPostWeight, _weights.LnPostBias);
        var proj = _attn.AsSpan(0, clsRows * e);
        MatMul.Gemm(false, clsRows, e, d, 1f, gathered, d, _weights.Projection, e, 0f, proj, e);
        for (var v = 0; v < videos; v++)
        {
            var o = output.Slice(v * e, e);
            o.Clear();
            var total = 0f;
            for (var t = 0; t < _frames; t++)
            {
                var ft = proj.Slice(((v * _frames) + t) * e, e);
                L2Normalize.Apply(ft, ft);
                var m = frameMask.IsEmpty ? 1f : frameMask[(v * _frames) + t];
                if (m != 0f)
                {
                    TensorPrimitives.MultiplyAdd(ft, m, o, o);
                    total += m;
                }
            }

            TensorPrimitives.Divide(o, Math.Max(total, 1f), o);
            L2Normalize.Apply(o, o);
        }
    }

    private int MaxTokensPerFrame() => _weights.TokensPerFrame; // merging only ever lowers the total token count

    private void Embed(ReadOnlySpan<float> video, int rows)
    {
        var d = _weights.Width;
        var p = _weights.Patch;
        var g = _weights.Grid;
        var s = _weights.ImageSize;
        var patches = g * g;
        var k = 3 * p * p;
        var col = _ln.AsSpan(0, rows * patches * k);
        for (var f = 0; f < rows; f++)
        {
            var frame = video.Slice(f * 3 * s * s, 3 * s * s);
            for (var gy = 0; gy < g; gy++)
            {
                for (var gx = 0; gx < g; gx++)
                {
                    var dst = col.Slice(((f * patches) + (gy * g) + gx) * k, k);
                    for (var c = 0; c < 3; c++)
                    {
                        for (var ky = 0; ky < p; ky++)
                        {
                            frame.Slice((c * s * s) + (((gy * p) + ky) * s) + (gx * p), p).CopyTo(dst.Slice((c * p * p) + (ky * p), p));
                        }
                    }
                }
            }
        }

        var patchOut = _qkv.AsSpan(0, rows * patches * d);
        MatMul.Gemm(true, rows * patches, d, k, 1f, col, k, _weights.ConvWeight, k, 0f, patchOut, d);
        var n = patches + 1;
        for (var f = 0; f < rows; f++)
        {
            var row = _x.AsSpan(f * n * d, n * d);
            TensorPrimitives.Add(_weights.ClassEmbedding, _weights.PositionalEmbedding.AsSpan(0, d), row[..d]);
            TensorPrimitives.Add(patchOut.Slice(f * patches * d, patches * d), _weights.PositionalEmbedding.AsSpan(d, patches * d), row[d..]);
        }

        LayerNorm.Rows(_x, _x, rows * n, d, _weights.LnPreWeight, _weights.LnPreBias);
    }

    private void Regroup(int rows, int n, int cls, int f)
    {
        var d = _weights.Width;
        var outRows = rows / f;
        var outN = n * f;
        var patchN = n - cls;
        for (var r = 0; r < outRows; r++)
        {
            for (var k = 0; k < f; k++)
            {
                var inRow = (r * f) + k;
                var src = _x.AsSpan(inRow * n * d, n * d);
                var srcSize = _size.AsSpan(inRow * n, n);
                var dstBase = r * outN;
                src[..(cls * d)].CopyTo(_alt.AsSpan((dstBase + (k * cls)) * d, cls * d));
                srcSize[..cls].CopyTo(_sizeAlt.AsSpan(dstBase + (k * cls), cls));
                var pBase = dstBase + (f * cls) + (k * patchN);
                src[(cls * d)..].CopyTo(_alt.AsSpan(pBase * d, patchN * d));
                srcSize[cls..].CopyTo(_sizeAlt.AsSpan(pBase, patchN));
            }
        }

        (_x, _alt) = (_alt, _x);
        (_size, _sizeAlt) = (_sizeAlt, _size);
    }

    private void AddTemporal(float[] e, int rows, int n, int clsIn, int f, int clipsIn)
    {
        var d = _weights.Width;
        var totalN = n;
        var patchPerClip = (totalN - (clsIn * f)) / f;
        for (var r = 0; r < rows; r++)
        {
            for (var k = 0; k < f; k++)
            {
                var clip = ((r * f) + k) % clipsIn;
                var emb = e.AsSpan(clip * d, d);
                for (var t = 0; t < clsIn; t++)
                {
                    var tok = _x.AsSpan(((r * totalN) + (k * clsIn) + t) * d, d);
                    TensorPrimitives.Add(tok, emb, tok);
                }

                var pBase = (r * totalN) + (f * clsIn) + (k * patchPerClip);
                for (var t = 0; t < patchPerClip; t++)
                {
                    var tok = _x.AsSpan((pBase + t) * d, d);
                    TensorPrimitives.Add(tok, emb, tok);
                }
            }
        }
    }

    private void MatchRows(int layer, MergeKind kind, float[] source, int dim, int stride, int rows, int n, int cls, int r, IEncoderTrace? trace)
    {
        var na = BipartiteMatch.SizeA(n, cls);
        for (var row = 0; row < rows; row++)
        {
            var src = _srcIdx.AsSpan(row * na, r);
            var dst = _dstIdx.AsSpan(row * na, r);
            var unm = _unmIdx.AsSpan(row * na, na - r);
            BipartiteMatch.Match(source.AsSpan(row * n * stride, n * stride), n, dim, stride, cls, r, src, dst, unm);
            trace?.OnMerge(layer, kind, r, cls, n, row, src, dst, unm);
        }
    }

    private unsafe void MergeRows(int rows, int n, int cls, int r)
    {
        var d = _weights.Width;
        var na = BipartiteMatch.SizeA(n, cls);
        var outN = n - r;
        ParallelRows.For(rows, rows * n * d < 32768, row =>
        {
            MergeWeightedAverage.Apply(
                _x.AsSpan(row * n * d, n * d), _size.AsSpan(row * n, n), n, d, cls,
                _srcIdx.AsSpan(row * na, r), _dstIdx.AsSpan(row * na, r), _unmIdx.AsSpan(row * na, na - r),
                _alt.AsSpan(row * outN * d, outN * d), _sizeAlt.AsSpan(row * outN, outN));
        });
        (_x, _alt) = (_alt, _x);
        (_size, _sizeAlt) = (_sizeAlt, _size);
    }

    private void AttentionRows(int rows, int n, bool useBias)
    {
        var d = _weights.Width;
        var heads = _weights.Heads;
        ParallelRows.For(rows * heads, false, job =>
        {
            var row = job / heads;
            var h = job % heads;
            var scratch = ScoreScratch(n);
            Attention.Head(
                _qkv.AsSpan(row * n * 3 * d, n * 3 * d), n, d, h, _headDim,
                useBias ? _keyBias.AsSpan(row * n, n) : default,
                false, _attn.AsSpan(row * n * d, n * d), scratch);
        });
    }

    [ThreadStatic]
    private static float[]? _scoreScratch;

    private static float[] ScoreScratch(int n)
    {
        var s = _scoreScratch;
        if (s is null || s.Length < n)
        {
            s = _scoreScratch = new float[Math.Max(n, 256)];
        }

        return s;
    }

    private void KeyMetric(int tokens)
    {
        var d = _weights.Width;
        var heads = _weights.Heads;
        var inv = 1f / heads;
        ParallelRows.For(tokens, tokens * d < 65536, t =>
        {
            var m = _metric.AsSpan(t * _headDim, _headDim);
            var k = _qkv.AsSpan((t * 3 * d) + d, d);
            k[.._headDim].CopyTo(m);
            for (var h = 1; h < heads; h++)
            {
                TensorPrimitives.Add(m, k.Slice(h * _headDim, _headDim), m);
            }

            TensorPrimitives.Multiply(m, inv, m);
        });
    }

    private static float[] Interpolate(float[] e, int from, int to, int d)
    {
        var result = new float[to * d];
        for (var j = 0; j < to; j++)
        {
            var pos = to == 1 ? 0 : j * (from - 1) / (double)(to - 1);
            var lo = (int)Math.Floor(pos);
            var hi = Math.Min(from - 1, lo + 1);
            var t = (float)(pos - lo);
            for (var i = 0; i < d; i++)
            {
                result[(j * d) + i] = (e[(lo * d) + i] * (1 - t)) + (e[(hi * d) + i] * t);
            }
        }

        return result;
    }

    private static void Ensure<T>(ref T[] buffer, long length)
    {
        if (buffer.Length < length)
        {
            buffer = new T[length];
        }
    }
}

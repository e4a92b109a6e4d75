using System.Numerics.Tensors;
using TempMe.Pipeline.Encoder.Kernels;

namespace TempMe.Pipeline.Encoder;

/// <summary>
/// CLIP ViT visual encoder with TempMe merging (ALGORITHM.md §2–§6). Frames of a batch of videos go through every GEMM
/// together (rows = tokens of all frames). Buffers are reused between calls; one call at a time.
/// </summary>
internal sealed class VisionTransformer
{
    private readonly VisionWeights w;
    private readonly float[]?[] temporal;
    private readonly int frames;
    private readonly int hd;

    private static readonly bool Profile = Environment.GetEnvironmentVariable("TEMPME_PROFILE") == "1";
    private readonly System.Diagnostics.Stopwatch profileWatch = new();
    private readonly double[] phaseSeconds = new double[8];

    private float[] x = [], alt = [], size = [], sizeAlt = [], ln = [], qkv = [], attn = [], hidden = [], metric = [], keyBias = [];
    private int[] srcIdx = [], dstIdx = [], unmIdx = [];

    /// <summary>Creates the encoder for <paramref name="frames"/> frames per video.</summary>
    public VisionTransformer(VisionWeights weights, TempMeSchedule schedule, int frames, TextWriter? notices)
    {
        w = weights;
        Schedule = schedule;
        this.frames = frames;
        hd = w.Width / w.Heads;
        Plans = schedule.Plan(w.Blocks.Length, w.TokensPerFrame, frames);
        temporal = new float[]?[w.Blocks.Length];
        foreach (var p in Plans)
        {
            if (p.Role != LayerRole.ClipMe || !schedule.TemporalPos || p.RCross == 0)
            {
                continue;
            }

            var b = w.Blocks[p.Layer];
            if (b.TemporalPos is null)
            {
                continue;
            }

            if (b.TemporalClips == p.ClipsIn)
            {
                temporal[p.Layer] = b.TemporalPos;
            }
            else
            {
                temporal[p.Layer] = Interpolate(b.TemporalPos, b.TemporalClips, p.ClipsIn, w.Width);
                notices?.WriteLine($"notice: layer {p.Layer} temporal embedding has {b.TemporalClips} clips but {p.ClipsIn} enter the layer: interpolated linearly.");
            }
        }
    }

    /// <summary>The schedule in use.</summary>
    public TempMeSchedule Schedule { get; }

    /// <summary>Per-layer plan.</summary>
    public IReadOnlyList<LayerPlan> Plans { get; }

    /// <summary>Weights.</summary>
    public VisionWeights Weights => w;

    /// <summary>Multiply-add count ×2 (FLOPs) of one video through this schedule, for benchmarks.</summary>
    public double FlopsPerVideo()
    {
        double d = w.Width, m = w.MlpWidth, p = w.Patch;
        double total = 2.0 * frames * (w.TokensPerFrame - 1) * 3 * p * p * d;
        foreach (var pl in Plans)
        {
            var rowsOut = pl.ClipsOut;
            var n = pl.AttentionTokens;
            var nOut = pl.TokensOut;
            total += rowsOut * ((2.0 * n * d * 3 * d) + (4.0 * n * n * d) + (2.0 * n * d * d) + (4.0 * nOut * d * m));
        }

        return total + (2.0 * frames * d * w.OutputDim);
    }

    /// <summary>
    /// Encodes <paramref name="videos"/> videos <c>[B, T, 3, S, S]</c> into unit-length rows <c>[B, E]</c>.
    /// <paramref name="frameMask"/> (<c>[B, T]</c>, 1 = real frame) weights the final mean; empty = all frames.
    /// </summary>
    public void Encode(ReadOnlySpan<float> video, int videos, ReadOnlySpan<float> frameMask, Span<float> output, IEncoderTrace? trace = null)
    {
        var s = w.ImageSize;
        var frameLen = 3 * s * s;
        var d = w.Width;
        if (video.Length < (long)videos * frames * frameLen || output.Length < videos * w.OutputDim)
        {
            throw new ArgumentException($"expected {videos}×{frames}×3×{s}×{s} input floats and {videos}×{w.OutputDim} output floats");
        }

        var rows = videos * frames;
        var n = w.TokensPerFrame;
        var cls = 1;
        var maxTokens = (long)rows * MaxTokensPerFrame();
        Ensure(ref x, maxTokens * d);
        Ensure(ref alt, maxTokens * d);
        Ensure(ref ln, maxTokens * Math.Max(d, 3 * w.Patch * w.Patch));
        Ensure(ref qkv, maxTokens * 3 * d);
        Ensure(ref attn, maxTokens * d);
        Ensure(ref hidden, maxTokens * w.MlpWidth);
        Ensure(ref metric, maxTokens * hd);
        Ensure(ref size, maxTokens);
        Ensure(ref sizeAlt, maxTokens);
        Ensure(ref keyBias, maxTokens);
        Ensure(ref srcIdx, maxTokens);
        Ensure(ref dstIdx, maxTokens);
        Ensure(ref unmIdx, maxTokens);

        profileWatch.Restart();
        Embed(video, rows);
        Mark(0);
        size.AsSpan(0, rows * n).Fill(1f);
        var hasSize = false;
        trace?.OnHidden(-1, "input", x.AsSpan(0, rows * n * d), size.AsSpan(0, rows * n), rows, n, d);

        foreach (var plan in Plans)
        {
            var blk = w.Blocks[plan.Layer];
            if (plan.Role == LayerRole.ClipMe)
            {
                var f = plan.Group;
                Regroup(rows, n, cls, f);
                rows /= f;
                n *= f;
                cls *= f;
                if (plan.RCross > 0)
                {
                    Mark(7);
                    MatchRows(plan.Layer, MergeKind.CrossClip, x, d, d, rows, n, cls, plan.RCross, trace);
                    Mark(4);
                    if (temporal[plan.Layer] is { } e)
                    {
                        AddTemporal(e, rows, n, cls / f, f, plan.ClipsIn);
                    }

                    Mark(7);
                    MergeRows(rows, n, cls, plan.RCross);
                    Mark(5);
                    n -= plan.RCross;
                    hasSize = true;
                }
            }

            trace?.OnHidden(plan.Layer, "before_ln_1", x.AsSpan(0, rows * n * d), size.AsSpan(0, rows * n), rows, n, d);
            var tokens = rows * n;
            Mark(7);
            LayerNorm.Rows(x, ln, tokens, d, blk.Ln1Weight, blk.Ln1Bias);
            Mark(1);
            MatMul.Linear(ln.AsSpan(0, tokens * d), tokens, d, blk.InProjWeight, blk.InProjBias, 3 * d, qkv);
            Mark(2);
            var useBias = hasSize && Schedule.PropAttn;
            if (useBias)
            {
                TensorPrimitives.Log(size.AsSpan(0, tokens), keyBias.AsSpan(0, tokens));
            }

            AttentionRows(rows, n, useBias);
            Mark(3);
            MatMul.Linear(attn.AsSpan(0, tokens * d), tokens, d, blk.OutProjWeight, blk.OutProjBias, d, ln);
            Mark(2);
            TensorPrimitives.Add(x.AsSpan(0, tokens * d), ln.AsSpan(0, tokens * d), x.AsSpan(0, tokens * d));

            if (plan.RAfter > 0)
            {
                Mark(7);
                KeyMetric(tokens);
                MatchRows(plan.Layer, plan.Role == LayerRole.ImgMe ? MergeKind.ImgMe : MergeKind.IntraClip, metric, hd, hd, rows, n, cls, plan.RAfter, trace);
                Mark(4);
                MergeRows(rows, n, cls, plan.RAfter);
                Mark(5);
                n -= plan.RAfter;
                tokens = rows * n;
                hasSize = true;
            }

            trace?.OnHidden(plan.Layer, "before_ln_2", x.AsSpan(0, tokens * d), size.AsSpan(0, tokens), rows, n, d);
            Mark(7);
            LayerNorm.Rows(x, ln, tokens, d, blk.Ln2Weight, blk.Ln2Bias);
            Mark(1);
            MatMul.Linear(ln.AsSpan(0, tokens * d), tokens, d, blk.FcWeight, blk.FcBias, w.MlpWidth, hidden);
            Mark(2);
            QuickGelu.ApplyInPlace(hidden.AsSpan(0, tokens * w.MlpWidth));
            Mark(6);
            MatMul.Linear(hidden.AsSpan(0, tokens * w.MlpWidth), tokens, w.MlpWidth, blk.ProjWeight, blk.ProjBias, d, ln);
            Mark(2);
            TensorPrimitives.Add(x.AsSpan(0, tokens * d), ln.AsSpan(0, tokens * d), x.AsSpan(0, tokens * d));
            trace?.OnHidden(plan.Layer, "output", x.AsSpan(0, tokens * d), size.AsSpan(0, tokens), rows, n, d);
        }

        Pool(videos, rows, n, cls, frameMask, output);
        if (Profile)
        {
            Console.Error.WriteLine($"profile: embed {phaseSeconds[0]:F2}s ln {phaseSeconds[1]:F2}s gemm {phaseSeconds[2]:F2}s attn {phaseSeconds[3]:F2}s match {phaseSeconds[4]:F2}s merge {phaseSeconds[5]:F2}s gelu {phaseSeconds[6]:F2}s other {phaseSeconds[7]:F2}s");
        }
    }

    private void Mark(int phase)
    {
        if (Profile)
        {
            phaseSeconds[phase] += profileWatch.Elapsed.TotalSeconds;
            profileWatch.Restart();
        }
    }

    /// <summary>Frame embeddings <c>LN_post(CLS_t)·proj</c> of the last <see cref="Encode"/> call are not kept; this pools and normalises.</summary>
    private void Pool(int videos, int rows, int n, int cls, ReadOnlySpan<float> frameMask, Span<float> output)
    {
        var d = w.Width;
        var e = w.OutputDim;
        var clipsPerVideo = rows / videos;
        var clsRows = videos * frames;
        var gathered = ln.AsSpan(0, clsRows * d);
        for (var v = 0; v < videos; v++)
        {
            for (var j = 0; j < clipsPerVideo; j++)
            {
                var row = (v * clipsPerVideo) + j;
                x.AsSpan(row * n * d, cls * d).CopyTo(gathered.Slice(((v * frames) + (j * cls)) * d, cls * d));
            }
        }

        LayerNorm.Rows(gathered, gathered, clsRows, d, w.LnPostWeight, w.LnPostBias);
        var proj = attn.AsSpan(0, clsRows * e);
        MatMul.Gemm(false, clsRows, e, d, 1f, gathered, d, w.Projection, e, 0f, proj, e);
        for (var v = 0; v < videos; v++)
        {
            var o = output.Slice(v * e, e);
            o.Clear();
            var total = 0f;
            for (var t = 0; t < frames; t++)
            {
                var ft = proj.Slice(((v * frames) + t) * e, e);
                L2Normalize.Apply(ft, ft);
                var m = frameMask.IsEmpty ? 1f : frameMask[(v * frames) + t];
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

    private int MaxTokensPerFrame() => w.TokensPerFrame; // merging only ever lowers the total token count

    private void Embed(ReadOnlySpan<float> video, int rows)
    {
        var d = w.Width;
        var p = w.Patch;
        var g = w.Grid;
        var s = w.ImageSize;
        var patches = g * g;
        var k = 3 * p * p;
        var col = ln.AsSpan(0, rows * patches * k);
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

        var patchOut = qkv.AsSpan(0, rows * patches * d);
        MatMul.Gemm(true, rows * patches, d, k, 1f, col, k, w.ConvWeight, k, 0f, patchOut, d);
        var n = patches + 1;
        for (var f = 0; f < rows; f++)
        {
            var row = x.AsSpan(f * n * d, n * d);
            TensorPrimitives.Add(w.ClassEmbedding, w.PositionalEmbedding.AsSpan(0, d), row[..d]);
            TensorPrimitives.Add(patchOut.Slice(f * patches * d, patches * d), w.PositionalEmbedding.AsSpan(d, patches * d), row[d..]);
        }

        LayerNorm.Rows(x, x, rows * n, d, w.LnPreWeight, w.LnPreBias);
    }

    private void Regroup(int rows, int n, int cls, int f)
    {
        var d = w.Width;
        var outRows = rows / f;
        var outN = n * f;
        var patchN = n - cls;
        for (var r = 0; r < outRows; r++)
        {
            for (var k = 0; k < f; k++)
            {
                var inRow = (r * f) + k;
                var src = x.AsSpan(inRow * n * d, n * d);
                var srcSize = size.AsSpan(inRow * n, n);
                var dstBase = r * outN;
                src[..(cls * d)].CopyTo(alt.AsSpan((dstBase + (k * cls)) * d, cls * d));
                srcSize[..cls].CopyTo(sizeAlt.AsSpan(dstBase + (k * cls), cls));
                var pBase = dstBase + (f * cls) + (k * patchN);
                src[(cls * d)..].CopyTo(alt.AsSpan(pBase * d, patchN * d));
                srcSize[cls..].CopyTo(sizeAlt.AsSpan(pBase, patchN));
            }
        }

        (x, alt) = (alt, x);
        (size, sizeAlt) = (sizeAlt, size);
    }

    private void AddTemporal(float[] e, int rows, int n, int clsIn, int f, int clipsIn)
    {
        var d = w.Width;
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
                    var tok = x.AsSpan(((r * totalN) + (k * clsIn) + t) * d, d);
                    TensorPrimitives.Add(tok, emb, tok);
                }

                var pBase = (r * totalN) + (f * clsIn) + (k * patchPerClip);
                for (var t = 0; t < patchPerClip; t++)
                {
                    var tok = x.AsSpan((pBase + t) * d, d);
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
            var src = srcIdx.AsSpan(row * na, r);
            var dst = dstIdx.AsSpan(row * na, r);
            var unm = unmIdx.AsSpan(row * na, na - r);
            BipartiteMatch.Match(source.AsSpan(row * n * stride, n * stride), n, dim, stride, cls, r, src, dst, unm);
            trace?.OnMerge(layer, kind, r, cls, n, row, src, dst, unm);
        }
    }

    private unsafe void MergeRows(int rows, int n, int cls, int r)
    {
        var d = w.Width;
        var na = BipartiteMatch.SizeA(n, cls);
        var outN = n - r;
        ParallelRows.For(rows, rows * n * d < 32768, row =>
        {
            MergeWeightedAverage.Apply(
                x.AsSpan(row * n * d, n * d), size.AsSpan(row * n, n), n, d, cls,
                srcIdx.AsSpan(row * na, r), dstIdx.AsSpan(row * na, r), unmIdx.AsSpan(row * na, na - r),
                alt.AsSpan(row * outN * d, outN * d), sizeAlt.AsSpan(row * outN, outN));
        });
        (x, alt) = (alt, x);
        (size, sizeAlt) = (sizeAlt, size);
    }

    private void AttentionRows(int rows, int n, bool useBias)
    {
        var d = w.Width;
        var heads = w.Heads;
        ParallelRows.For(rows * heads, false, job =>
        {
            var row = job / heads;
            var h = job % heads;
            var scratch = ScoreScratch(n);
            Attention.Head(
                qkv.AsSpan(row * n * 3 * d, n * 3 * d), n, d, h, hd,
                useBias ? keyBias.AsSpan(row * n, n) : default,
                false, attn.AsSpan(row * n * d, n * d), scratch);
        });
    }

    [ThreadStatic]
    private static float[]? scoreScratch;

    private static float[] ScoreScratch(int n)
    {
        var s = scoreScratch;
        if (s is null || s.Length < n)
        {
            s = scoreScratch = new float[Math.Max(n, 256)];
        }

        return s;
    }

    private void KeyMetric(int tokens)
    {
        var d = w.Width;
        var heads = w.Heads;
        var inv = 1f / heads;
        ParallelRows.For(tokens, tokens * d < 65536, t =>
        {
            var m = metric.AsSpan(t * hd, hd);
            var k = qkv.AsSpan((t * 3 * d) + d, d);
            k[..hd].CopyTo(m);
            for (var h = 1; h < heads; h++)
            {
                TensorPrimitives.Add(m, k.Slice(h * hd, hd), m);
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

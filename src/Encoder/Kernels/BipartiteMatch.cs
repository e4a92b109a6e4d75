using System.Numerics.Tensors;

namespace TempMe.Pipeline.Encoder.Kernels;

/// <summary>
/// TempMe/ToMe bipartite soft matching for one row (docs/ENCODER.md, section 4). The first <c>cls</c> tokens are never matched.
/// Patch tokens at even whole-row positions form set A, those at odd positions set B. Each A token's best cosine
/// similarity to B is computed; the <c>r</c> A tokens with the highest best score merge into their argmax B token.
/// Outputs: <c>src</c> (A indices, by descending score), <c>dst</c> (B index of each src), <c>unm</c> (other A indices, ascending).
/// </summary>
internal static class BipartiteMatch
{
    [ThreadStatic]
    private static float[]? _threadScratch;

    /// <summary>Size of set A for a row of <paramref name="n"/> tokens with <paramref name="cls"/> protected tokens.</summary>
    public static int SizeA(int n, int cls) => Math.Max(0, n - cls - SizeB(n, cls));

    /// <summary>Size of set B.</summary>
    public static int SizeB(int n, int cls) => cls % 2 == 0 ? (n - cls) / 2 : (n - cls + 1) / 2;

    /// <summary>Whole-row position of A token <paramref name="a"/>.</summary>
    public static int PositionA(int a, int cls) => (cls % 2 == 0 ? cls : cls + 1) + (2 * a);

    /// <summary>Whole-row position of B token <paramref name="b"/>.</summary>
    public static int PositionB(int b, int cls) => (cls % 2 == 0 ? cls + 1 : cls) + (2 * b);

    /// <summary>
    /// Matches one row. Token t's metric is <c>metric[t·stride .. t·stride+d)</c>. <paramref name="src"/> and
    /// <paramref name="dst"/> receive r entries, <paramref name="unm"/> |A|−r entries.
    /// </summary>
    public static void Match(ReadOnlySpan<float> metric, int n, int d, int stride, int cls, int r, Span<int> src, Span<int> dst, Span<int> unm)
    {
        var na = SizeA(n, cls);
        var nb = SizeB(n, cls);
        Check(metric.Length, n, d, stride, cls, r, na, src.Length, dst.Length, unm.Length);
        var needed = (na * d) + (nb * d) + (na * nb) + (2 * na);
        var scratch = _threadScratch;
        if (scratch is null || scratch.Length < needed)
        {
            scratch = _threadScratch = new float[Math.Max(needed, 1024)];
        }

        var aHat = scratch.AsSpan(0, na * d);
        var bHat = scratch.AsSpan(na * d, nb * d);
        var scores = scratch.AsSpan((na + nb) * d, na * nb);
        var keys = scratch.AsSpan(((na + nb) * d) + (na * nb), na);
        for (var a = 0; a < na; a++)
        {
            Normalize(metric.Slice(PositionA(a, cls) * stride, d), aHat.Slice(a * d, d));
        }

        for (var b = 0; b < nb; b++)
        {
            Normalize(metric.Slice(PositionB(b, cls) * stride, d), bHat.Slice(b * d, d));
        }

        if (na > 0 && nb > 0)
        {
            MatMul.Gemm(true, na, nb, d, 1f, aHat, d, bHat, d, 0f, scores, nb);
        }

        Span<int> order = na <= 1024 ? stackalloc int[na] : new int[na];
        Span<int> arg = na <= 1024 ? stackalloc int[na] : new int[na];
        for (var a = 0; a < na; a++)
        {
            var row = scores.Slice(a * nb, nb);
            var best = nb == 0 ? float.NegativeInfinity : row[0];
            var bi = 0;
            for (var b = 1; b < nb; b++)
            {
                if (row[b] > best)
                {
                    best = row[b];
                    bi = b;
                }
            }

            keys[a] = -best;
            arg[a] = bi;
            order[a] = a;
        }

        Sort(keys, order);
        for (var i = 0; i < r; i++)
        {
            src[i] = order[i];
            dst[i] = arg[order[i]];
        }

        order[r..].CopyTo(unm);
        unm[..(na - r)].Sort();
    }

    /// <summary>Scalar reference: double-precision cosine similarities, stable ordering.</summary>
    internal static void Reference(ReadOnlySpan<float> metric, int n, int d, int stride, int cls, int r, Span<int> src, Span<int> dst, Span<int> unm)
    {
        var na = SizeA(n, cls);
        var nb = SizeB(n, cls);
        Check(metric.Length, n, d, stride, cls, r, na, src.Length, dst.Length, unm.Length);
        var best = new double[na];
        var arg = new int[na];
        for (var a = 0; a < na; a++)
        {
            best[a] = double.NegativeInfinity;
            for (var b = 0; b < nb; b++)
            {
                double dot = 0, na2 = 0, nb2 = 0;
                var pa = PositionA(a, cls) * stride;
                var pb = PositionB(b, cls) * stride;
                for (var i = 0; i < d; i++)
                {
                    dot += (double)metric[pa + i] * metric[pb + i];
                    na2 += (double)metric[pa + i] * metric[pa + i];
                    nb2 += (double)metric[pb + i] * metric[pb + i];
                }

                var s = dot / Math.Sqrt(na2) / Math.Sqrt(nb2);
                if (s > best[a])
                {
                    best[a] = s;
                    arg[a] = b;
                }
            }
        }

        var order = Enumerable.Range(0, na).OrderByDescending(a => best[a]).ThenBy(a => a).ToArray();
        for (var i = 0; i < r; i++)
        {
            src[i] = order[i];
            dst[i] = arg[order[i]];
        }

        var rest = order.Skip(r).Order().ToArray();
        rest.CopyTo(unm);
    }

    private static void Normalize(ReadOnlySpan<float> v, Span<float> dest)
    {
        var norm = MathF.Sqrt(TensorPrimitives.SumOfSquares(v));
        TensorPrimitives.Divide(v, norm, dest);
    }

    private static void Sort(Span<float> keys, Span<int> items)
    {
        // Stable insertion-merge: sort by key, ties by index (the reference data have no ties).
        for (var i = 1; i < keys.Length; i++)
        {
            var k = keys[i];
            var it = items[i];
            var j = i - 1;
            while (j >= 0 && (keys[j] > k || (keys[j] == k && items[j] > it)))
            {
                keys[j + 1] = keys[j];
                items[j + 1] = items[j];
                j--;
            }

            keys[j + 1] = k;
            items[j + 1] = it;
        }
    }

    private static void Check(int metricLength, int n, int d, int stride, int cls, int r, int na, int srcLen, int dstLen, int unmLen)
    {
        if (cls < 0 || cls > n || d <= 0 || stride < d)
        {
            throw new ArgumentException($"bad match shape: n={n}, cls={cls}, d={d}, stride={stride}");
        }

        if (r < 0 || r > na)
        {
            throw new ArgumentOutOfRangeException(nameof(r), $"r={r} must lie in 0..|A|={na} (n={n}, cls={cls})");
        }

        if (n > 0 && metricLength < ((n - 1) * stride) + d)
        {
            throw new ArgumentException($"metric too short: {metricLength} for {n} tokens of stride {stride}");
        }

        if (srcLen < r || dstLen < r || unmLen < na - r)
        {
            throw new ArgumentException($"output spans too short for r={r}, |A|={na}");
        }
    }
}

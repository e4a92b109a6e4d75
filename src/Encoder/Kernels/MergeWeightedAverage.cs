namespace TempMe.Pipeline.Encoder.Kernels;

/// <summary>
/// Size-weighted merge of one row after <see cref="BipartiteMatch"/> (the last step of the matching): each B token becomes
/// <c>(x_b·s_b + Σ x_src·s_src) / (s_b + Σ s_src)</c>; the output row is <c>[CLS…, unmerged A…, B…]</c> with n − r tokens.
/// </summary>
internal static class MergeWeightedAverage
{
    /// <summary>Merges one row. <paramref name="xOut"/> must not overlap <paramref name="x"/>.</summary>
    public static void Apply(ReadOnlySpan<float> x, ReadOnlySpan<float> size, int n, int width, int cls, ReadOnlySpan<int> src, ReadOnlySpan<int> dst, ReadOnlySpan<int> unm, Span<float> xOut, Span<float> sizeOut)
    {
        var nb = BipartiteMatch.SizeB(n, cls);
        var r = src.Length;
        Check(x.Length, size.Length, n, width, cls, r, dst.Length, unm.Length, xOut.Length, sizeOut.Length, nb);
        x[..(cls * width)].CopyTo(xOut);
        size[..cls].CopyTo(sizeOut);
        for (var i = 0; i < unm.Length; i++)
        {
            var p = BipartiteMatch.PositionA(unm[i], cls);
            x.Slice(p * width, width).CopyTo(xOut.Slice((cls + i) * width, width));
            sizeOut[cls + i] = size[p];
        }

        var bBase = cls + unm.Length;
        for (var b = 0; b < nb; b++)
        {
            var p = BipartiteMatch.PositionB(b, cls);
            System.Numerics.Tensors.TensorPrimitives.Multiply(x.Slice(p * width, width), size[p], xOut.Slice((bBase + b) * width, width));
            sizeOut[bBase + b] = size[p];
        }

        for (var i = 0; i < r; i++)
        {
            var p = BipartiteMatch.PositionA(src[i], cls);
            var o = xOut.Slice((bBase + dst[i]) * width, width);
            System.Numerics.Tensors.TensorPrimitives.MultiplyAdd(x.Slice(p * width, width), size[p], o, o);
            sizeOut[bBase + dst[i]] += size[p];
        }

        for (var b = 0; b < nb; b++)
        {
            var o = xOut.Slice((bBase + b) * width, width);
            System.Numerics.Tensors.TensorPrimitives.Divide(o, sizeOut[bBase + b], o);
        }

    }

    /// <summary>Scalar reference of the same merge.</summary>
    internal static void Reference(ReadOnlySpan<float> x, ReadOnlySpan<float> size, int n, int width, int cls, ReadOnlySpan<int> src, ReadOnlySpan<int> dst, ReadOnlySpan<int> unm, Span<float> xOut, Span<float> sizeOut)
    {
        var nb = BipartiteMatch.SizeB(n, cls);
        var rows = new List<int>();
        for (var t = 0; t < cls; t++)
        {
            rows.Add(t);
        }

        foreach (var a in unm)
        {
            rows.Add(BipartiteMatch.PositionA(a, cls));
        }

        for (var t = 0; t < rows.Count; t++)
        {
            sizeOut[t] = size[rows[t]];
            for (var i = 0; i < width; i++)
            {
                xOut[(t * width) + i] = x[(rows[t] * width) + i];
            }
        }

        for (var b = 0; b < nb; b++)
        {
            var pb = BipartiteMatch.PositionB(b, cls);
            double s = size[pb];
            var acc = new double[width];
            for (var i = 0; i < width; i++)
            {
                acc[i] = (double)x[(pb * width) + i] * size[pb];
            }

            for (var k = 0; k < src.Length; k++)
            {
                if (dst[k] != b)
                {
                    continue;
                }

                var pa = BipartiteMatch.PositionA(src[k], cls);
                s += size[pa];
                for (var i = 0; i < width; i++)
                {
                    acc[i] += (double)x[(pa * width) + i] * size[pa];
                }
            }

            var o = rows.Count + b;
            sizeOut[o] = (float)s;
            for (var i = 0; i < width; i++)
            {
                xOut[(o * width) + i] = (float)(acc[i] / s);
            }
        }
    }

    private static void Check(int xLen, int sizeLen, int n, int width, int cls, int r, int dstLen, int unmLen, int xOutLen, int sizeOutLen, int nb)
    {
        var na = n - cls - nb;
        if (dstLen != r || unmLen != na - r)
        {
            throw new ArgumentException($"merge plan mismatch: r={r}, dst={dstLen}, unm={unmLen}, |A|={na}");
        }

        if (xLen < n * width || sizeLen < n || xOutLen < (n - r) * width || sizeOutLen < n - r)
        {
            throw new ArgumentException($"merge spans too short for n={n}, width={width}, r={r}");
        }
    }
}

using System.Numerics.Tensors;
using TempMe.Pipeline.Encoder.Internal;

namespace TempMe.Pipeline.Encoder.Kernels;

/// <summary>
/// Row-major matrix product, effectively <c>C[i,j] = alpha·Σ_p A[i,p]·op(B)[p,j] + beta·C[i,j]</c>, where
/// op(B) = Bᵀ (B stored <c>[n,k]</c>, a PyTorch <c>Linear</c> weight) when <c>transB</c>, else B (stored <c>[k,n]</c>).
/// Runs OpenBLAS <c>cblas_sgemm</c> when available, else a vectorised, parallel managed kernel.
/// </summary>
internal static class MatMul
{
    /// <summary>Computes the product; see the type summary. Throws when a span is too short for its leading dimension.</summary>
    public static void Gemm(bool transB, int m, int n, int k, float alpha, ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc)
    {
        Validate(transB, m, n, k, a.Length, lda, b.Length, ldb, c.Length, ldc);
        if (m == 0 || n == 0)
        {
            return;
        }

        if (NativeBlas.IsAvailable && k > 0)
        {
            unsafe
            {
                fixed (float* pa = a)
                fixed (float* pb = b)
                fixed (float* pc = c)
                {
                    NativeBlas.Sgemm(transB, m, n, k, alpha, pa, lda, pb, ldb, beta, pc, ldc);
                }
            }

            return;
        }

        Managed(transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    }

    /// <summary><c>y[m, outF] = x[m, inF]·Wᵀ + bias</c> with W stored <c>[outF, inF]</c>.</summary>
    public static void Linear(ReadOnlySpan<float> x, int m, int inF, ReadOnlySpan<float> weight, ReadOnlySpan<float> bias, int outF, Span<float> y)
    {
        if (bias.Length != outF)
        {
            throw new ArgumentException($"bias has {bias.Length} values, expected {outF}", nameof(bias));
        }

        for (var i = 0; i < m; i++)
        {
            bias.CopyTo(y.Slice(i * outF, outF));
        }

        Gemm(true, m, outF, inF, 1f, x, inF, weight, inF, 1f, y, outF);
    }

    /// <summary>The managed kernel (also used when OpenBLAS is absent).</summary>
    internal static unsafe void Managed(bool transB, int m, int n, int k, float alpha, ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc)
    {
        fixed (float* pa = a)
        fixed (float* pb = b)
        fixed (float* pc = c)
        {
            var (ap, bp, cp) = ((nint)pa, (nint)pb, (nint)pc);
            const int BlockRows = 8;
            var blocks = (m + BlockRows - 1) / BlockRows;
            var work = (long)m * n * Math.Max(k, 1);
            var options = new ParallelOptions { MaxDegreeOfParallelism = work < 1 << 16 ? 1 : Environment.ProcessorCount };
            Parallel.For(0, blocks, options, blk =>
            {
                var A = (float*)ap;
                var B = (float*)bp;
                var C = (float*)cp;
                var i0 = blk * BlockRows;
                var i1 = Math.Min(m, i0 + BlockRows);
                for (var i = i0; i < i1; i++)
                {
                    var ci = new Span<float>(C + ((long)i * ldc), n);
                    if (beta == 0f)
                    {
                        ci.Clear();
                    }
                    else if (beta != 1f)
                    {
                        TensorPrimitives.Multiply(ci, beta, ci);
                    }
                }

                if (transB)
                {
                    const int BlockCols = 64;
                    for (var j0 = 0; j0 < n; j0 += BlockCols)
                    {
                        var j1 = Math.Min(n, j0 + BlockCols);
                        for (var i = i0; i < i1; i++)
                        {
                            var ai = new ReadOnlySpan<float>(A + ((long)i * lda), k);
                            var ci = C + ((long)i * ldc);
                            for (var j = j0; j < j1; j++)
                            {
                                ci[j] += alpha * TensorPrimitives.Dot(ai, new ReadOnlySpan<float>(B + ((long)j * ldb), k));
                            }
                        }
                    }
                }
                else
                {
                    for (var i = i0; i < i1; i++)
                    {
                        var ci = new Span<float>(C + ((long)i * ldc), n);
                        var ai = A + ((long)i * lda);
                        for (var p = 0; p < k; p++)
                        {
                            var s = alpha * ai[p];
                            if (s != 0f)
                            {
                                TensorPrimitives.MultiplyAdd(new ReadOnlySpan<float>(B + ((long)p * ldb), n), s, ci, ci);
                            }
                        }
                    }
                }
            });
        }
    }

    /// <summary>Scalar reference: the plain triple loop, accumulated in double.</summary>
    internal static void Reference(bool transB, int m, int n, int k, float alpha, ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc)
    {
        Validate(transB, m, n, k, a.Length, lda, b.Length, ldb, c.Length, ldc);
        for (var i = 0; i < m; i++)
        {
            for (var j = 0; j < n; j++)
            {
                double sum = 0;
                for (var p = 0; p < k; p++)
                {
                    sum += (double)a[(i * lda) + p] * (transB ? b[(j * ldb) + p] : b[(p * ldb) + j]);
                }

                var old = beta == 0f ? 0f : beta * c[(i * ldc) + j];
                c[(i * ldc) + j] = (float)((alpha * sum) + old);
            }
        }
    }

    private static void Validate(bool transB, int m, int n, int k, int aLen, int lda, int bLen, int ldb, int cLen, int ldc)
    {
        if (m < 0 || n < 0 || k < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(m), $"negative dimension m={m} n={n} k={k}");
        }

        var bRows = transB ? n : k;
        var bCols = transB ? k : n;
        if (lda < Math.Max(1, k) || ldb < Math.Max(1, bCols) || ldc < Math.Max(1, n))
        {
            throw new ArgumentException($"leading dimension too small: lda={lda} (k={k}), ldb={ldb} (cols={bCols}), ldc={ldc} (n={n})");
        }

        if ((m > 0 && k > 0 && aLen < ((long)(m - 1) * lda) + k)
            || (bRows > 0 && bCols > 0 && bLen < ((long)(bRows - 1) * ldb) + bCols)
            || (m > 0 && n > 0 && cLen < ((long)(m - 1) * ldc) + n))
        {
            throw new ArgumentException($"span too short for a [{m}x{k}]·[{k}x{n}] product (a={aLen}, b={bLen}, c={cLen})");
        }
    }
}

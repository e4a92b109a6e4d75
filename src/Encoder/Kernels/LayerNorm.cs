using System.Numerics.Tensors;

namespace TempMe.Pipeline.Encoder.Kernels;

/// <summary>
/// Layer normalisation over the last axis, effectively <c>y = (x − mean(x)) / sqrt(var(x) + eps) · gamma + beta</c> with the
/// biased variance, as <c>torch.nn.LayerNorm</c> (eps 1e-5 throughout CLIP). NaN in a row makes that row NaN.
/// </summary>
internal static class LayerNorm
{
    /// <summary>CLIP's epsilon.</summary>
    public const float DefaultEpsilon = 1e-5f;

    /// <summary>Normalises one vector; <paramref name="y"/> may be <paramref name="x"/> (in place).</summary>
    public static void Apply(ReadOnlySpan<float> x, Span<float> y, ReadOnlySpan<float> gamma, ReadOnlySpan<float> beta, float eps = DefaultEpsilon)
    {
        var n = x.Length;
        if (y.Length < n || gamma.Length != n || beta.Length != n)
        {
            throw new ArgumentException($"LayerNorm length mismatch: x={n}, y={y.Length}, gamma={gamma.Length}, beta={beta.Length}");
        }

        if (n == 0)
        {
            return;
        }

        var mean = TensorPrimitives.Sum(x) / n;
        var y0 = y[..n];
        TensorPrimitives.Subtract(x, mean, y0);
        var variance = TensorPrimitives.SumOfSquares(y0) / n;
        var inv = 1f / MathF.Sqrt(variance + eps);
        TensorPrimitives.Multiply(y0, inv, y0);
        TensorPrimitives.FusedMultiplyAdd(y0, gamma, beta, y0);
    }

    /// <summary>Normalises <paramref name="rows"/> consecutive vectors of width <paramref name="width"/>, in parallel.</summary>
    public static unsafe void Rows(ReadOnlySpan<float> x, Span<float> y, int rows, int width, float[] gamma, float[] beta, float eps = DefaultEpsilon)
    {
        if (x.Length < (long)rows * width || y.Length < (long)rows * width)
        {
            throw new ArgumentException($"LayerNorm.Rows: spans shorter than {rows}x{width}");
        }

        fixed (float* px = x)
        fixed (float* py = y)
        {
            var (xp, yp) = ((nint)px, (nint)py);
            ParallelRows.For(rows, (long)rows * width < 32768, r =>
            {
                var off = (long)r * width;
                Apply(new ReadOnlySpan<float>((float*)xp + off, width), new Span<float>((float*)yp + off, width), gamma, beta, eps);
            });
        }
    }

    /// <summary>Scalar reference (double accumulation).</summary>
    internal static void Reference(ReadOnlySpan<float> x, Span<float> y, ReadOnlySpan<float> gamma, ReadOnlySpan<float> beta, float eps = DefaultEpsilon)
    {
        var n = x.Length;
        if (n == 0)
        {
            return;
        }

        double mean = 0;
        for (var i = 0; i < n; i++)
        {
            mean += x[i];
        }

        mean /= n;
        double variance = 0;
        for (var i = 0; i < n; i++)
        {
            variance += (x[i] - mean) * (x[i] - mean);
        }

        variance /= n;
        var inv = 1.0 / Math.Sqrt(variance + eps);
        for (var i = 0; i < n; i++)
        {
            y[i] = (float)(((x[i] - mean) * inv * gamma[i]) + beta[i]);
        }
    }
}

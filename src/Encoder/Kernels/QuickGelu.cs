using System.Numerics.Tensors;

namespace TempMe.Pipeline.Encoder.Kernels;

/// <summary>CLIP's activation, effectively <c>y = x · σ(1.702·x)</c>.</summary>
internal static class QuickGelu
{
    private const float Alpha = 1.702f;

    /// <summary>Applies the activation; <paramref name="y"/> may be <paramref name="x"/>.</summary>
    public static void Apply(ReadOnlySpan<float> x, Span<float> y)
    {
        if (y.Length < x.Length)
        {
            throw new ArgumentException($"destination too short: {y.Length} < {x.Length}", nameof(y));
        }

        Span<float> tmp = stackalloc float[512];
        for (var i = 0; i < x.Length; i += tmp.Length)
        {
            var len = Math.Min(tmp.Length, x.Length - i);
            var xs = x.Slice(i, len);
            var t = tmp[..len];
            TensorPrimitives.Multiply(xs, Alpha, t);
            TensorPrimitives.Sigmoid(t, t);
            TensorPrimitives.Multiply(xs, t, y.Slice(i, len));
        }
    }

    /// <summary>Applies the activation to a large buffer in place, in parallel chunks.</summary>
    public static unsafe void ApplyInPlace(Span<float> x)
    {
        const int Chunk = 16384;
        fixed (float* p = x)
        {
            var (ptr, len) = ((nint)p, x.Length);
            ParallelRows.For((len + Chunk - 1) / Chunk, len < 65536, c =>
            {
                var s = new Span<float>((float*)ptr + ((long)c * Chunk), Math.Min(Chunk, len - (c * Chunk)));
                Apply(s, s);
            });
        }
    }

    /// <summary>Scalar reference.</summary>
    internal static void Reference(ReadOnlySpan<float> x, Span<float> y)
    {
        for (var i = 0; i < x.Length; i++)
        {
            y[i] = (float)(x[i] / (1.0 + Math.Exp(-Alpha * (double)x[i])));
        }
    }
}

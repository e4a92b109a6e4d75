using System.Numerics.Tensors;

namespace TempMe.Pipeline.Encoder.Kernels;

/// <summary>Scales a vector to unit Euclidean length, effectively <c>y = x / ‖x‖</c> (a zero vector stays zero).</summary>
internal static class L2Normalize
{
    /// <summary>Normalises in place or into <paramref name="y"/>.</summary>
    public static void Apply(ReadOnlySpan<float> x, Span<float> y)
    {
        if (y.Length < x.Length)
        {
            throw new ArgumentException($"destination too short: {y.Length} < {x.Length}", nameof(y));
        }

        var norm = MathF.Sqrt(TensorPrimitives.SumOfSquares(x));
        if (norm == 0f)
        {
            x.CopyTo(y);
            return;
        }

        TensorPrimitives.Divide(x, norm, y[..x.Length]);
    }

    /// <summary>Scalar reference in double.</summary>
    internal static void Reference(ReadOnlySpan<float> x, Span<float> y)
    {
        double s = 0;
        foreach (var v in x)
        {
            s += (double)v * v;
        }

        var norm = Math.Sqrt(s);
        for (var i = 0; i < x.Length; i++)
        {
            y[i] = norm == 0 ? x[i] : (float)(x[i] / norm);
        }
    }
}

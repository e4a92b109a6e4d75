using System.Numerics.Tensors;

namespace TempMe.Pipeline.Encoder.Kernels;

/// <summary>
/// Numerically stable softmax of one vector, effectively <c>y_i = exp(x_i − max x) / Σ_j exp(x_j − max x)</c>.
/// <c>−∞</c> entries get probability 0; a NaN anywhere gives NaN.
/// </summary>
internal static class Softmax
{
    /// <summary>Computes the softmax; <paramref name="y"/> may be <paramref name="x"/>.</summary>
    public static void Apply(ReadOnlySpan<float> x, Span<float> y)
    {
        if (y.Length < x.Length)
        {
            throw new ArgumentException($"destination too short: {y.Length} < {x.Length}", nameof(y));
        }

        if (x.Length == 0)
        {
            return;
        }

        var y0 = y[..x.Length];
        var max = TensorPrimitives.Max(x);
        TensorPrimitives.Subtract(x, max, y0);
        TensorPrimitives.Exp(y0, y0);
        var sum = TensorPrimitives.Sum(y0);
        TensorPrimitives.Multiply(y0, 1f / sum, y0);
    }

    /// <summary>Scalar reference in double.</summary>
    internal static void Reference(ReadOnlySpan<float> x, Span<float> y)
    {
        if (x.Length == 0)
        {
            return;
        }

        double max = double.NegativeInfinity;
        foreach (var v in x)
        {
            max = Math.Max(max, v);
        }

        double sum = 0;
        for (var i = 0; i < x.Length; i++)
        {
            sum += Math.Exp(x[i] - max);
        }

        for (var i = 0; i < x.Length; i++)
        {
            y[i] = (float)(Math.Exp(x[i] - max) / sum);
        }
    }
}

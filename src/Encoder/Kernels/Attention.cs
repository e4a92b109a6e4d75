using System.Numerics.Tensors;

namespace TempMe.Pipeline.Encoder.Kernels;

/// <summary>
/// One head of scaled dot-product attention over one sequence, effectively
/// <c>out_i = Σ_j softmax_j(q_i·k_j/√hd + bias_j) v_j</c>, reading q, k, v from a packed <c>[n, 3·width]</c> qkv buffer
/// (q at column h·hd, k at width + h·hd, v at 2·width + h·hd). <c>bias_j</c> is log(size_j) for proportional attention or
/// −∞ for a padded key; with <c>causal</c>, keys after the query are skipped.
/// </summary>
internal static class Attention
{
    /// <summary>Computes head <paramref name="head"/>, writing <c>[n, hd]</c> into columns h·hd of <paramref name="output"/> (row stride width).</summary>
    public static void Head(ReadOnlySpan<float> qkv, int n, int width, int head, int hd, ReadOnlySpan<float> keyBias, bool causal, Span<float> output, Span<float> scores)
    {
        var stride = 3 * width;
        if (qkv.Length < n * stride || output.Length < n * width || scores.Length < n || (keyBias.Length != 0 && keyBias.Length < n) || (head + 1) * hd > width)
        {
            throw new ArgumentException($"attention shapes: n={n}, width={width}, head={head}, hd={hd}");
        }

        var scale = 1f / MathF.Sqrt(hd);
        var qOff = head * hd;
        var kOff = width + (head * hd);
        var vOff = (2 * width) + (head * hd);
        for (var i = 0; i < n; i++)
        {
            var q = qkv.Slice((i * stride) + qOff, hd);
            var keys = causal ? i + 1 : n;
            var s = scores[..keys];
            for (var j = 0; j < keys; j++)
            {
                s[j] = TensorPrimitives.Dot(q, qkv.Slice((j * stride) + kOff, hd)) * scale;
            }

            if (keyBias.Length != 0)
            {
                TensorPrimitives.Add(s, keyBias[..keys], s);
            }

            Softmax.Apply(s, s);
            var o = output.Slice((i * width) + qOff, hd);
            o.Clear();
            for (var j = 0; j < keys; j++)
            {
                var p = s[j];
                if (p != 0f)
                {
                    TensorPrimitives.MultiplyAdd(qkv.Slice((j * stride) + vOff, hd), p, o, o);
                }
            }
        }
    }

    /// <summary>Scalar reference in double.</summary>
    internal static void Reference(ReadOnlySpan<float> qkv, int n, int width, int head, int hd, ReadOnlySpan<float> keyBias, bool causal, Span<float> output)
    {
        var stride = 3 * width;
        var scale = 1.0 / Math.Sqrt(hd);
        var s = new double[n];
        for (var i = 0; i < n; i++)
        {
            var keys = causal ? i + 1 : n;
            var max = double.NegativeInfinity;
            for (var j = 0; j < keys; j++)
            {
                double dot = 0;
                for (var t = 0; t < hd; t++)
                {
                    dot += (double)qkv[(i * stride) + (head * hd) + t] * qkv[(j * stride) + width + (head * hd) + t];
                }

                s[j] = (dot * scale) + (keyBias.Length != 0 ? keyBias[j] : 0);
                max = Math.Max(max, s[j]);
            }

            double sum = 0;
            for (var j = 0; j < keys; j++)
            {
                s[j] = Math.Exp(s[j] - max);
                sum += s[j];
            }

            for (var t = 0; t < hd; t++)
            {
                double acc = 0;
                for (var j = 0; j < keys; j++)
                {
                    acc += s[j] / sum * qkv[(j * stride) + (2 * width) + (head * hd) + t];
                }

                output[(i * width) + (head * hd) + t] = (float)acc;
            }
        }
    }
}

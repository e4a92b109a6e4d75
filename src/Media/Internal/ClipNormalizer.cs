using System.Numerics;

namespace TempMe.Pipeline.Media.Internal;

/// <summary>
/// Interleaved RGB24 frames to planar CLIP-normalised floats: <c>(byte / 255 - mean[c]) / std[c]</c> in float32, in that
/// order, as torchvision's <c>ToTensor</c> then <c>Normalize</c> compute it.
/// </summary>
internal static class ClipNormalizer
{
    /// <summary>CLIP's per-channel mean.</summary>
    public static ReadOnlySpan<float> Mean => [0.48145466f, 0.4578275f, 0.40821073f];

    /// <summary>CLIP's per-channel standard deviation.</summary>
    public static ReadOnlySpan<float> Std => [0.26862954f, 0.26130258f, 0.27577711f];

    /// <summary>Writes one frame of <paramref name="pixels"/> (H·W·3 bytes) into <paramref name="planar"/> (3·H·W floats).</summary>
    public static void NormalizeFrame(ReadOnlySpan<byte> pixels, Span<float> planar)
    {
        if (pixels.Length % 3 != 0 || planar.Length != pixels.Length)
        {
            throw new ArgumentException($"Expected 3·H·W bytes and as many floats; got {pixels.Length} bytes and {planar.Length} floats.", nameof(planar));
        }

        var plane = pixels.Length / 3;
        var r = planar[..plane];
        var g = planar.Slice(plane, plane);
        var b = planar.Slice(2 * plane, plane);

        // De-interleave (scalar gather), then one vectorised pass per plane.
        for (int p = 0, i = 0; p < plane; p++, i += 3)
        {
            r[p] = pixels[i];
            g[p] = pixels[i + 1];
            b[p] = pixels[i + 2];
        }

        NormalizePlane(r, Mean[0], Std[0]);
        NormalizePlane(g, Mean[1], Std[1]);
        NormalizePlane(b, Mean[2], Std[2]);
    }

    /// <summary>In place: <c>x = (x / 255 - mean) / std</c>.</summary>
    internal static void NormalizePlane(Span<float> values, float mean, float std)
    {
        var i = 0;
        if (Vector.IsHardwareAccelerated && values.Length >= Vector<float>.Count)
        {
            var scale = new Vector<float>(255f);
            var m = new Vector<float>(mean);
            var s = new Vector<float>(std);
            for (; i <= values.Length - Vector<float>.Count; i += Vector<float>.Count)
            {
                var v = new Vector<float>(values[i..]);
                ((v / scale - m) / s).CopyTo(values[i..]);
            }
        }

        for (; i < values.Length; i++)
        {
            values[i] = Reference(values[i], mean, std);
        }
    }

    /// <summary>The scalar formula for one value.</summary>
    internal static float Reference(float value, float mean, float std) => ((value / 255f) - mean) / std;
}

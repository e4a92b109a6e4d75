namespace TempMe.Pipeline.Encoder.Tests.Kernels;

/// <summary>Shared lengths, tolerances and seeded data for the kernel tests.</summary>
internal static class KernelTestData
{
    public const float Tolerance = 2e-5f;

    public static IEnumerable<int> Lengths => Enumerable.Range(0, 258).Append(768);

    public static TheoryData<int> LengthData
    {
        get
        {
            var d = new TheoryData<int>();
            foreach (var n in Lengths)
            {
                d.Add(n);
            }

            return d;
        }
    }

    public static float[] Random(int n, int seed, float scale = 1f)
    {
        var rng = new Random(seed);
        var a = new float[n];
        for (var i = 0; i < n; i++)
        {
            a[i] = (float)((rng.NextDouble() * 2) - 1) * scale;
        }

        return a;
    }

    public static void AssertClose(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, float tolerance = Tolerance)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (var i = 0; i < expected.Length; i++)
        {
            var tol = tolerance * Math.Max(1f, Math.Abs(expected[i]));
            Assert.True(Math.Abs(expected[i] - actual[i]) <= tol, $"index {i}: expected {expected[i]}, got {actual[i]}");
        }
    }
}

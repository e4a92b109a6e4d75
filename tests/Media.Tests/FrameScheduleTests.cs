namespace TempMe.Pipeline.Media.Tests;

public sealed class FrameScheduleTests
{
    /// <summary>
    /// The authors' rule written out again, as plainly as possible, for comparison with <see cref="FrameSchedule"/>:
    /// stride = int(round(fps)) with round-half-even; all_pos = range(0, n, stride); subsample with numpy linspace.
    /// </summary>
    internal static long[] Expected(long n, double fps, int t)
    {
        var stride = (long)Math.Round(fps, MidpointRounding.ToEven);
        var allPos = new List<long>();
        for (long p = 0; p < n; p += stride)
        {
            allPos.Add(p);
        }

        if (allPos.Count == t)
        {
            return [.. allPos];
        }

        var over = allPos.Count > t;
        var last = over ? allPos.Count - 1 : n - 1;
        var result = new long[t];
        for (var i = 0; i < t; i++)
        {
            var x = t == 1 ? 0 : i == t - 1 ? last : (long)(i * (last / (double)(t - 1)));
            result[i] = over ? allPos[(int)x] : x;
        }

        return result;
    }

    [Theory]
    // 5 s at 25 fps: 5 candidates < 12, so linspace(0, 124, 12) over the original frames.
    [InlineData(125, 25.0, 12, new long[] { 0, 11, 22, 33, 45, 56, 67, 78, 90, 101, 112, 124 })]
    // 90 s at 25 fps: 90 candidates, linspace(0, 89, 12) = 0, 8, 16, …, 80, 89 → ×25.
    [InlineData(2250, 25.0, 12, new long[] { 0, 200, 400, 600, 800, 1000, 1200, 1400, 1600, 1800, 2000, 2225 })]
    // 15 s at 29.97 fps: stride round(29.97) = 30, 15 candidates, linspace(0, 14, 12) → ×30.
    [InlineData(450, 30000.0 / 1001, 12, new long[] { 0, 30, 60, 90, 150, 180, 210, 240, 300, 330, 360, 420 })]
    // 12 s at 25 fps: exactly T candidates, taken as they are.
    [InlineData(300, 25.0, 12, new long[] { 0, 25, 50, 75, 100, 125, 150, 175, 200, 225, 250, 275 })]
    // 5 frames, T = 12: frames repeat.
    [InlineData(5, 25.0, 12, new long[] { 0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 4 })]
    // 1 frame.
    [InlineData(1, 25.0, 4, new long[] { 0, 0, 0, 0 })]
    // T = 1: numpy's linspace with one point gives the start.
    [InlineData(2250, 25.0, 1, new long[] { 0 })]
    // fps 12.5 rounds half to even: stride 12, not 13. 120 frames → 10 candidates (0..108) < 12 → linspace(0, 119, 12).
    [InlineData(120, 12.5, 12, new long[] { 0, 10, 21, 32, 43, 54, 64, 75, 86, 97, 108, 119 })]
    // fps 13.5 rounds half to even: stride 14. 200 frames → 15 candidates, linspace(0, 14, 12) → ×14.
    [InlineData(200, 13.5, 12, new long[] { 0, 14, 28, 42, 70, 84, 98, 112, 140, 154, 168, 196 })]
    public void Matches_the_authors_rule_on_worked_examples(long n, double fps, int t, long[] expected)
    {
        Assert.Equal(expected, FrameSchedule.Compute(n, fps, t));
        Assert.Equal(expected, Expected(n, fps, t));
    }

    [Fact]
    public void Matches_the_plain_rule_over_a_sweep()
    {
        double[] rates = [1, 5, 12.5, 23.976, 24, 25, 29.97, 30, 50, 59.94, 60, 120];
        foreach (var fps in rates)
        {
            foreach (var t in new[] { 1, 2, 3, 8, 12, 32, 64 })
            {
                for (long n = 1; n < 4000; n += 37)
                {
                    Assert.Equal(Expected(n, fps, t), FrameSchedule.Compute(n, fps, t));
                }
            }
        }
    }

    [Fact]
    public void Is_empty_without_frames() => Assert.Empty(FrameSchedule.Compute(0, 25, 12));

    [Theory]
    [InlineData(0.4, 1)]
    [InlineData(0.5, 1)]
    [InlineData(1.5, 2)]
    [InlineData(2.5, 2)]
    [InlineData(29.97, 30)]
    [InlineData(double.NaN, 1)]
    public void Stride_rounds_half_to_even_and_is_at_least_one(double fps, long stride) =>
        Assert.Equal(stride, FrameSchedule.Stride(fps, 1));

    [Fact]
    public void Linspace_sets_the_last_point_to_stop_exactly()
    {
        // 0.1-steps accumulate rounding error in i * step; numpy forces y[-1] = stop.
        var points = FrameSchedule.Linspace(0, 49, 50);
        Assert.Equal(Enumerable.Range(0, 50).Select(i => (long)i), points);
    }
}

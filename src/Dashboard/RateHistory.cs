namespace TempMe.Pipeline.Dashboard;

/// <summary>
/// Turns a growing count (videos settled) sampled about once a second into a recent rate and a rate history for the
/// chart. Counts move in steps (job counters change when a shard completes, worker rows at each heartbeat), so the
/// rate is taken over a sliding window.
/// </summary>
internal sealed class RateHistory(TimeSpan window, int maxPoints = 600)
{
    private readonly Queue<(DateTimeOffset Time, long Count)> _samples = new();
    private readonly List<double[]> _points = [];

    /// <summary>The latest rate (per second).</summary>
    public double Rate { get; private set; }

    /// <summary>Adds a sample and returns the rate over the window.</summary>
    public double Add(DateTimeOffset time, long count, bool record = true)
    {
        _samples.Enqueue((time, count));
        while (_samples.Count > 2 && time - _samples.Peek().Time > window)
        {
            _samples.Dequeue();
        }

        var (firstTime, firstCount) = _samples.Peek();
        var seconds = (time - firstTime).TotalSeconds;
        Rate = seconds >= 0.5 ? Math.Max(0, count - firstCount) / seconds : 0;
        if (record)
        {
            _points.Add([Math.Round(time.ToUnixTimeMilliseconds() / 1000.0, 1), Math.Round(Rate, 3)]);
            if (_points.Count > maxPoints)
            {
                _points.RemoveAt(0);
            }
        }

        return Rate;
    }

    /// <summary>At most <paramref name="points"/> points of the history, evenly thinned, newest last.</summary>
    public IReadOnlyList<double[]> Points(int points = 150)
    {
        if (_points.Count <= points)
        {
            return [.. _points];
        }

        var step = (double)_points.Count / points;
        var result = new List<double[]>(points);
        for (var i = 0; i < points - 1; i++)
        {
            result.Add(_points[(int)(i * step)]);
        }

        result.Add(_points[^1]);
        return result;
    }
}

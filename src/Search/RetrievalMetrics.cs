namespace TempMe.Pipeline.Search;

/// <summary>Retrieval metrics in the authors' form: recalls in percent, ranks 1-based.</summary>
/// <param name="R1">Percent of rank entries at rank 1.</param>
/// <param name="R5">Percent at rank ≤ 5.</param>
/// <param name="R10">Percent at rank ≤ 10.</param>
/// <param name="MedianRank">Median rank.</param>
/// <param name="MeanRank">Mean rank.</param>
/// <param name="Entries">Rank entries counted (more than the queries when scores tie).</param>
public sealed record RetrievalMetrics(double R1, double R5, double R10, double MedianRank, double MeanRank, int Entries)
{
    /// <summary>
    /// Metrics from 0-based rank positions. As in the authors' evaluation, a correct item tied with others counts once
    /// at each position the tie occupies (so ties neither help nor hurt on average, and entries can exceed queries).
    /// </summary>
    public static RetrievalMetrics FromPositions(IReadOnlyList<int> positions)
    {
        ArgumentNullException.ThrowIfNull(positions);
        if (positions.Count == 0)
        {
            throw new ArgumentException("No ranks to summarise.", nameof(positions));
        }

        double Percent(int below) => 100.0 * positions.Count(p => p < below) / positions.Count;
        var sorted = positions.Order().ToArray();
        var middle = sorted.Length / 2;
        var median = sorted.Length % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2.0;
        return new RetrievalMetrics(Percent(1), Percent(5), Percent(10), median + 1, sorted.Average() + 1, sorted.Length);
    }
}

namespace TempMe.Pipeline.Search;

/// <summary>One candidate of a search: where the row is and its dot product with the query.</summary>
/// <param name="Part">Index of the part in the manifest.</param>
/// <param name="Row">Row within the part.</param>
/// <param name="Score">Dot product (cosine similarity for unit rows).</param>
public readonly record struct ScoredRow(int Part, long Row, float Score)
{
    /// <summary>Best first: higher score, then earlier part and row, so equal scores always come out in the same order.</summary>
    public static int BestFirst(ScoredRow a, ScoredRow b)
    {
        var byScore = b.Score.CompareTo(a.Score);
        if (byScore != 0)
        {
            return byScore;
        }

        var byPart = a.Part.CompareTo(b.Part);
        return byPart != 0 ? byPart : a.Row.CompareTo(b.Row);
    }
}

namespace TempMe.Pipeline.Search;

/// <summary>
/// Text-to-video and video-to-text metrics from a caption × video similarity matrix, computed the way the TempMe
/// authors' evaluation computes them: the rank of the right item is its position in the row sorted by descending score,
/// every position of a tie counted; with several captions per video, video-to-text scores a video against each other
/// video by the best of that video's captions.
/// </summary>
public static class RetrievalEvaluator
{
    /// <summary>For each caption (row of <paramref name="similarity"/>), the rank of its video <c>videoOfCaption[row]</c>.</summary>
    public static RetrievalMetrics TextToVideo(float[][] similarity, IReadOnlyList<int> videoOfCaption)
    {
        Check(similarity, videoOfCaption);
        var positions = new List<int>();
        for (var c = 0; c < similarity.Length; c++)
        {
            AddPositions(similarity[c], videoOfCaption[c], positions);
        }

        return RetrievalMetrics.FromPositions(positions);
    }

    /// <summary>For each video, the rank of its own captions against every video's best caption.</summary>
    public static RetrievalMetrics VideoToText(float[][] similarity, IReadOnlyList<int> videoOfCaption)
    {
        Check(similarity, videoOfCaption);
        var videos = similarity[0].Length;
        var positions = new List<int>();
        var row = new float[videos];
        for (var v = 0; v < videos; v++)
        {
            Array.Fill(row, float.NegativeInfinity);
            for (var c = 0; c < similarity.Length; c++)
            {
                var other = videoOfCaption[c];
                row[other] = Math.Max(row[other], similarity[c][v]);
            }

            if (!float.IsNegativeInfinity(row[v]))
            {
                AddPositions(row, v, positions);
            }
        }

        return RetrievalMetrics.FromPositions(positions);
    }

    /// <summary>Adds the 0-based positions the right item occupies in <paramref name="scores"/> sorted descending (one per tied position).</summary>
    private static void AddPositions(float[] scores, int right, List<int> positions)
    {
        var target = scores[right];
        var greater = 0;
        var equal = 0;
        foreach (var s in scores)
        {
            if (s > target)
            {
                greater++;
            }
            else if (s == target)
            {
                equal++;
            }
        }

        for (var i = 0; i < equal; i++)
        {
            positions.Add(greater + i);
        }
    }

    private static void Check(float[][] similarity, IReadOnlyList<int> videoOfCaption)
    {
        ArgumentNullException.ThrowIfNull(similarity);
        ArgumentNullException.ThrowIfNull(videoOfCaption);
        if (similarity.Length == 0 || similarity.Length != videoOfCaption.Count)
        {
            throw new ArgumentException($"{similarity.Length} similarity rows for {videoOfCaption.Count} captions.", nameof(similarity));
        }

        var videos = similarity[0].Length;
        if (similarity.Any(r => r.Length != videos) || videoOfCaption.Any(v => v < 0 || v >= videos))
        {
            throw new ArgumentException("Rows differ in length or a caption names a video outside the matrix.", nameof(similarity));
        }
    }
}

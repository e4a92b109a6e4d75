using TempMe.Pipeline.Search;

namespace TempMe.Pipeline.Search.Tests;

/// <summary>
/// Retrieval metrics on small similarity matrices whose ranks are worked out by hand below. The rank of the right item
/// is its 0-based position in the row sorted by descending score; a tie counts once at every position it occupies.
/// </summary>
public sealed class RetrievalEvaluatorTests
{
    private const double Tolerance = 1e-9;

    [Fact]
    public void One_caption_per_video_with_ties_counts_every_tied_position()
    {
        // Rows are captions, columns videos; caption i describes video i.
        float[][] sim =
        [
            [0.9f, 0.1f, 0.2f], // 0.9 is the best: position 0
            [0.5f, 0.4f, 0.6f], // 0.5 and 0.6 beat 0.4: position 2
            [0.3f, 0.3f, 0.3f], // a three-way tie: positions 0, 1 and 2
        ];
        var t2v = RetrievalEvaluator.TextToVideo(sim, [0, 1, 2]);

        // Positions {0, 2, 0, 1, 2}: 5 entries, 2 at position 0; sorted 0 0 1 2 2, median 1, mean 1.
        Assert.Equal(5, t2v.Entries);
        Assert.Equal(40.0, t2v.R1, Tolerance);
        Assert.Equal(100.0, t2v.R5, Tolerance);
        Assert.Equal(100.0, t2v.R10, Tolerance);
        Assert.Equal(2.0, t2v.MedianRank, Tolerance);
        Assert.Equal(2.0, t2v.MeanRank, Tolerance);

        // Video to text reads the columns: video 0 [0.9 0.5 0.3] → 0; video 1 [0.1 0.4 0.3] → 0; video 2 [0.2 0.6 0.3] → 1.
        var v2t = RetrievalEvaluator.VideoToText(sim, [0, 1, 2]);
        Assert.Equal(3, v2t.Entries);
        Assert.Equal(200.0 / 3, v2t.R1, Tolerance);
        Assert.Equal(100.0, v2t.R5, Tolerance);
        Assert.Equal(1.0, v2t.MedianRank, Tolerance);
        Assert.Equal(1.0 + (1.0 / 3), v2t.MeanRank, Tolerance);
    }

    [Fact]
    public void Several_captions_per_video_score_each_video_by_its_best_caption()
    {
        // Captions 0 and 1 describe video 0, caption 2 describes video 1.
        float[][] sim =
        [
            [0.2f, 0.8f], // right video 0 at 0.2, beaten by 0.8: position 1
            [0.7f, 0.1f], // position 0
            [0.4f, 0.6f], // right video 1 at 0.6: position 0
        ];
        var t2v = RetrievalEvaluator.TextToVideo(sim, [0, 0, 1]);
        Assert.Equal(3, t2v.Entries);
        Assert.Equal(200.0 / 3, t2v.R1, Tolerance);
        Assert.Equal(1.0, t2v.MedianRank, Tolerance);
        Assert.Equal(1.0 + (1.0 / 3), t2v.MeanRank, Tolerance);

        // Video 0 against video 0's captions: max(0.2, 0.7) = 0.7, against video 1's: 0.4 → position 0.
        // Video 1 against video 0's captions: max(0.8, 0.1) = 0.8, against its own: 0.6 → position 1.
        var v2t = RetrievalEvaluator.VideoToText(sim, [0, 0, 1]);
        Assert.Equal(2, v2t.Entries);
        Assert.Equal(50.0, v2t.R1, Tolerance);
        Assert.Equal(1.5, v2t.MedianRank, Tolerance);
        Assert.Equal(1.5, v2t.MeanRank, Tolerance);
    }

    [Fact]
    public void Recall_at_5_and_10_split_at_the_right_positions()
    {
        // Twelve videos scored 0.00 … 0.11 by both captions: video 5 has six better ones (position 6), video 11 none.
        var row = Enumerable.Range(0, 12).Select(j => j / 100f).ToArray();
        var t2v = RetrievalEvaluator.TextToVideo([row, row], [5, 11]);
        Assert.Equal(50.0, t2v.R1, Tolerance);
        Assert.Equal(50.0, t2v.R5, Tolerance);
        Assert.Equal(100.0, t2v.R10, Tolerance);
        Assert.Equal(4.0, t2v.MedianRank, Tolerance); // positions 0 and 6: median 3, plus 1
        Assert.Equal(4.0, t2v.MeanRank, Tolerance);
    }

    [Fact]
    public void Caption_files_read_msrvtt_csv_with_quotes_and_json_lines()
    {
        var dir = Directory.CreateTempSubdirectory("tempme-captions-").FullName;
        try
        {
            var csv = Path.Combine(dir, "test.csv");
            File.WriteAllText(csv, "key,vid_key,video_id,sentence\nret0,msr7010,video7010,\"a man, in a hat, says \"\"hi\"\"\"\nret1,msr7011,video7011,people are dancing\n");
            var rows = CaptionFile.Read(csv);
            Assert.Equal([("video7010", "a man, in a hat, says \"hi\""), ("video7011", "people are dancing")], rows.Select(r => (r.Video, r.Caption)).ToArray());

            var jsonl = Path.Combine(dir, "test.jsonl");
            File.WriteAllText(jsonl, "{\"video\": \"a.mp4\", \"caption\": \"x\"}\n\n{\"video\": \"b\", \"caption\": \"y\"}\n");
            Assert.Equal([("a.mp4", "x"), ("b", "y")], CaptionFile.Read(jsonl).Select(r => (r.Video, r.Caption)).ToArray());

            var bad = Path.Combine(dir, "bad.csv");
            File.WriteAllText(bad, "id,text\n1,hello\n");
            Assert.Contains("video_id and sentence", Assert.Throws<FormatException>(() => CaptionFile.Read(bad)).Message);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void Top_k_keeps_the_best_rows_in_order_and_breaks_ties_by_position()
    {
        var top = new TopKCollector(3);
        float[] scores = [0.1f, 0.5f, 0.3f, 0.5f, 0.9f, -1f, 0.3f];
        for (var i = 0; i < scores.Length; i++)
        {
            top.Add(new ScoredRow(0, i, scores[i]));
        }

        Assert.Equal([(4L, 0.9f), (1L, 0.5f), (3L, 0.5f)], top.ToSortedArray().Select(r => (r.Row, r.Score)).ToArray());
    }
}

using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using TempMe.Pipeline.Indexing.Output;
using TempMe.Pipeline.Search;

namespace TempMe.Pipeline.Cli.Commands;

/// <summary><c>tempme eval INDEX --captions FILE</c>: text-to-video and video-to-text retrieval metrics against ground-truth captions.</summary>
internal static class EvalCommand
{
    /// <summary>Creates the command.</summary>
    public static Command Create()
    {
        var index = new Argument<string>("index") { Description = "The index: an output folder of tempme index, or the output address of a finished job." };
        var captions = new Option<string>("--captions") { Description = "Ground truth: an MSR-VTT style CSV (video_id,sentence; the id is a source's file name without extension) or JSON lines {\"video\": …, \"caption\": …}.", Required = true };
        var json = new Option<bool>("--json") { Description = "Print the metrics as one JSON object." };
        var model = new SearchModelOptions();
        var command = new Command("eval", "Measure retrieval (R@1, R@5, R@10, median and mean rank) of an index against ground-truth captions.") { index, captions, json };
        model.AddTo(command);

        CommandAction.Set(command, async (parse, cancellationToken) =>
        {
            var captionsPath = parse.GetValue(captions)!;
            if (!File.Exists(captionsPath))
            {
                throw new UsageException($"--captions {captionsPath}: no such file.");
            }

            IReadOnlyList<CaptionEntry> entries;
            try
            {
                entries = CaptionFile.Read(captionsPath);
            }
            catch (FormatException e)
            {
                throw new UsageException(e.Message);
            }

            if (entries.Count == 0)
            {
                throw new UsageException($"--captions {captionsPath} holds no captions.");
            }

            using var opened = await SearchIndexOpening.OpenAsync(parse.GetValue(index)!, cancellationToken);
            var encoder = SearchIndexOpening.LoadModel(opened, parse.GetValue(model.Model), parse.GetValue(model.Vocab), model.Settings(parse));
            EvaluationReport report;
            try
            {
                report = IndexEvaluation.Run(opened, entries, encoder.EncodeTexts);
            }
            catch (SearchIndexException e)
            {
                throw new UsageException(e.Message);
            }

            if (report.Unmatched.Count > 0)
            {
                Console.Error.WriteLine($"warning: {report.Unmatched.Count} videos named in {captionsPath} are not in the index and were skipped: {string.Join(", ", report.Unmatched.Take(10))}{(report.Unmatched.Count > 10 ? ", …" : "")}");
            }

            if (parse.GetValue(json))
            {
                Console.WriteLine(JsonSerializer.Serialize(new
                {
                    videos = report.Videos,
                    captions = report.Captions,
                    unmatched = report.Unmatched.Count,
                    text_to_video = Json(report.TextToVideo),
                    video_to_text = Json(report.VideoToText),
                }, OutputJson.Options));
            }
            else
            {
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{report.Captions} captions of {report.Videos} videos"));
                Console.WriteLine("direction        R@1     R@5     R@10    MdR     MnR");
                Console.WriteLine(Row("text-to-video", report.TextToVideo));
                Console.WriteLine(Row("video-to-text", report.VideoToText));
            }

            return ExitCodes.Ok;
        });
        return command;
    }

    private static object Json(RetrievalMetrics m) => new { r1 = m.R1, r5 = m.R5, r10 = m.R10, median_rank = m.MedianRank, mean_rank = m.MeanRank, entries = m.Entries };

    private static string Row(string name, RetrievalMetrics m) =>
        string.Create(CultureInfo.InvariantCulture, $"{name,-15} {m.R1,6:F1}  {m.R5,6:F1}  {m.R10,6:F1}  {m.MedianRank,6:0.#}  {m.MeanRank,6:F1}");
}

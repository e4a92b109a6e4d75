using System.Text;
using System.Text.Json;

namespace TempMe.Pipeline.Search;

/// <summary>
/// Reads ground-truth captions: an MSR-VTT style CSV with a header naming <c>video_id</c> and <c>sentence</c> columns
/// (other columns ignored, RFC 4180 quoting), or JSON lines <c>{"video": …, "caption": …}</c>.
/// </summary>
public static class CaptionFile
{
    /// <summary>Parses <paramref name="path"/>; throws <see cref="FormatException"/> naming the line at fault.</summary>
    public static IReadOnlyList<CaptionEntry> Read(string path)
    {
        var lines = File.ReadAllLines(path, Encoding.UTF8);
        var first = Array.FindIndex(lines, l => l.Trim().Length > 0);
        if (first < 0)
        {
            throw new FormatException($"{path} is empty; expected a CSV with video_id,sentence columns or JSON lines {{\"video\": …, \"caption\": …}}.");
        }

        return lines[first].TrimStart().StartsWith('{') ? ReadJsonLines(path, lines) : ReadCsv(path, lines, first);
    }

    private static List<CaptionEntry> ReadJsonLines(string path, string[] lines)
    {
        var entries = new List<CaptionEntry>();
        for (var i = 0; i < lines.Length; i++)
        {
            if (lines[i].Trim().Length == 0)
            {
                continue;
            }

            try
            {
                using var doc = JsonDocument.Parse(lines[i]);
                var video = doc.RootElement.TryGetProperty("video", out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
                var caption = doc.RootElement.TryGetProperty("caption", out var c) && c.ValueKind == JsonValueKind.String ? c.GetString() : null;
                if (string.IsNullOrWhiteSpace(video) || string.IsNullOrWhiteSpace(caption))
                {
                    throw new FormatException($"{path} line {i + 1}: expected string fields \"video\" and \"caption\".");
                }

                entries.Add(new CaptionEntry(video, caption, i + 1));
            }
            catch (JsonException e)
            {
                throw new FormatException($"{path} line {i + 1} is not JSON ({e.Message}).", e);
            }
        }

        return entries;
    }

    private static List<CaptionEntry> ReadCsv(string path, string[] lines, int headerLine)
    {
        var header = SplitCsv(lines[headerLine]).Select(h => h.Trim()).ToList();
        var videoColumn = header.IndexOf("video_id");
        var sentenceColumn = header.IndexOf("sentence");
        if (videoColumn < 0 || sentenceColumn < 0)
        {
            throw new FormatException($"{path}: the CSV header ({lines[headerLine]}) must name the columns video_id and sentence.");
        }

        var entries = new List<CaptionEntry>();
        for (var i = headerLine + 1; i < lines.Length; i++)
        {
            if (lines[i].Trim().Length == 0)
            {
                continue;
            }

            var fields = SplitCsv(lines[i]);
            if (fields.Count <= Math.Max(videoColumn, sentenceColumn) || fields[videoColumn].Trim().Length == 0 || fields[sentenceColumn].Trim().Length == 0)
            {
                throw new FormatException($"{path} line {i + 1}: expected a video_id and a sentence (quote sentences holding commas).");
            }

            entries.Add(new CaptionEntry(fields[videoColumn].Trim(), fields[sentenceColumn].Trim(), i + 1));
        }

        return entries;
    }

    /// <summary>One CSV record: fields split on commas outside double quotes; <c>""</c> inside quotes is a quote.</summary>
    private static List<string> SplitCsv(string line)
    {
        var fields = new List<string>();
        var field = new StringBuilder();
        var quoted = false;
        for (var i = 0; i < line.Length; i++)
        {
            var ch = line[i];
            if (quoted)
            {
                if (ch == '"' && i + 1 < line.Length && line[i + 1] == '"')
                {
                    field.Append('"');
                    i++;
                }
                else if (ch == '"')
                {
                    quoted = false;
                }
                else
                {
                    field.Append(ch);
                }
            }
            else if (ch == '"')
            {
                quoted = true;
            }
            else if (ch == ',')
            {
                fields.Add(field.ToString());
                field.Clear();
            }
            else
            {
                field.Append(ch);
            }
        }

        fields.Add(field.ToString());
        return fields;
    }
}

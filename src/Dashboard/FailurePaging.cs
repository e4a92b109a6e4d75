using System.Globalization;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using TempMe.Pipeline.Indexing.Output;

namespace TempMe.Pipeline.Dashboard;

/// <summary>
/// The query of <c>GET /api/jobs/{id}/failures</c>: <c>limit</c> (1..<see cref="MaxLimit"/>, default <see cref="DefaultLimit"/>
/// for JSON, every row for <c>format=jsonl</c>) and <c>after</c> (the cursor: the <c>Link: rel="next"</c> of the previous page).
/// Answers are bounded whoever asks: JSON pages hold at most <see cref="MaxLimit"/> rows, JSONL is streamed page by page.
/// </summary>
internal sealed record FailurePaging(int? Limit, long After, bool JsonLines)
{
    /// <summary>Most rows in one answer page.</summary>
    public const int MaxLimit = 1000;

    /// <summary>Rows in a JSON page when no limit is given.</summary>
    public const int DefaultLimit = 100;

    private static readonly ReadOnlyMemory<byte> NewLine = "\n"u8.ToArray();

    /// <summary>Rows read from the ledger per step while streaming JSONL.</summary>
    public const int StreamPage = 500;

    /// <summary>Parses the query; an out-of-range or malformed value gives a 400 problem naming the parameter and its range.</summary>
    public static (FailurePaging? Paging, IResult? Problem) Parse(HttpRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var format = request.Query["format"].ToString();
        var jsonLines = string.Equals(format, "jsonl", StringComparison.OrdinalIgnoreCase);
        if (format.Length > 0 && !jsonLines && !string.Equals(format, "json", StringComparison.OrdinalIgnoreCase))
        {
            return (null, Bad("format", $"format must be json or jsonl (got '{Shorten(format)}')."));
        }

        int? limit = jsonLines ? null : DefaultLimit;
        var limitText = request.Query["limit"].ToString();
        if (limitText.Length > 0)
        {
            if (!int.TryParse(limitText, NumberStyles.None, CultureInfo.InvariantCulture, out var value) || value < 1 || value > MaxLimit)
            {
                return (null, Bad("limit", $"limit must be an integer from 1 to {MaxLimit} (got '{Shorten(limitText)}'); page further with the after cursor from the Link header."));
            }

            limit = value;
        }

        var after = -1L;
        var afterText = request.Query["after"].ToString();
        if (afterText.Length > 0 && (!long.TryParse(afterText, NumberStyles.None, CultureInfo.InvariantCulture, out after) || after < 0))
        {
            return (null, Bad("after", $"after must be a non-negative integer cursor (got '{Shorten(afterText)}'); take it from the previous page's Link: rel=\"next\" header."));
        }

        return (new FailurePaging(limit, after, jsonLines), null);
    }

    /// <summary>The <c>Link</c> header value of the page after the one that ended at <paramref name="lastVideoId"/>.</summary>
    public string NextLink(HttpRequest request, long lastVideoId) =>
        $"<{request.PathBase}{request.Path}?limit={Limit}&after={lastVideoId}>; rel=\"next\"";

    /// <summary>
    /// The answer to this query over <paramref name="readPage"/> (at most <c>size</c> rows with a video id above
    /// <c>after</c>, in id order): a JSON page, with <c>Link: rel="next"</c> when it is full, or for JSONL every row
    /// from <see cref="After"/> on, read and written a page at a time so memory stays flat however many videos failed.
    /// </summary>
    public async Task<IResult> AnswerAsync(HttpContext context, Func<long, int, CancellationToken, Task<IReadOnlyList<(long VideoId, FailureRow Row)>>> readPage)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(readPage);
        if (JsonLines)
        {
            return Results.Stream(body => StreamLinesAsync(body, readPage, context.RequestAborted), "application/jsonl");
        }

        var rows = await readPage(After, Limit!.Value, context.RequestAborted);
        if (rows.Count == Limit)
        {
            context.Response.Headers.Link = NextLink(context.Request, rows[^1].VideoId);
        }

        return Results.Json(rows.Select(r => r.Row).ToList(), ApiJson.Options);
    }

    private async Task StreamLinesAsync(Stream body, Func<long, int, CancellationToken, Task<IReadOnlyList<(long VideoId, FailureRow Row)>>> readPage, CancellationToken cancellationToken)
    {
        var after = After;
        var left = Limit ?? long.MaxValue;
        while (left > 0)
        {
            var size = (int)Math.Min(StreamPage, left);
            var page = await readPage(after, size, cancellationToken);
            await WriteLinesAsync(body, page.Select(r => r.Row), ApiJson.Options, cancellationToken);
            if (page.Count < size)
            {
                break;
            }

            after = page[^1].VideoId;
            left -= page.Count;
        }
    }

    /// <summary>Writes one JSON line per row.</summary>
    private static async Task WriteLinesAsync(Stream body, IEnumerable<FailureRow> rows, JsonSerializerOptions options, CancellationToken cancellationToken)
    {
        foreach (var row in rows)
        {
            await JsonSerializer.SerializeAsync(body, row, options, cancellationToken);
            await body.WriteAsync(NewLine, cancellationToken);
        }

        await body.FlushAsync(cancellationToken);
    }

    private static IResult Bad(string field, string message) =>
        Results.ValidationProblem(new Dictionary<string, string[]> { [field] = [message] }, detail: $"{field}: {message}", title: "invalid query");

    private static string Shorten(string text) => text.Length > 40 ? text[..40] + "…" : text;
}

using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using TempMe.Pipeline.Indexing.Output;

namespace TempMe.Pipeline.Dashboard.Tests;

/// <summary>
/// The failure list's paging, which the silo's API and <c>tempme index --dashboard</c> both answer through
/// <see cref="FailurePaging.AnswerAsync"/>: bounded JSON pages with a next cursor, and JSONL read a page at a time.
/// Over an in-memory list of failures, so the paging itself is what is checked (the silo's own end-to-end test is
/// <c>ResponseLimitTests</c>).
/// </summary>
public sealed class FailurePagingTests
{
    private const int Failures = 1234;

    private readonly List<int> _pageSizesRead = [];

    [Fact]
    public async Task A_json_answer_is_one_bounded_page_with_a_link_to_the_next()
    {
        var (status, body, link) = await AnswerAsync("?limit=1000&after=99");

        Assert.Equal(StatusCodes.Status200OK, status);
        var rows = JsonDocument.Parse(body).RootElement.EnumerateArray().Select(r => r.GetProperty("source").GetString()).ToList();
        Assert.Equal(1000, rows.Count);
        Assert.Equal("/v/100.mp4", rows[0]);
        Assert.Equal("/v/1099.mp4", rows[^1]);
        Assert.Equal("</api/jobs/local/failures?limit=1000&after=1099>; rel=\"next\"", link);
        Assert.Equal([1000], _pageSizesRead);
    }

    [Fact]
    public async Task The_last_json_page_has_no_next_link_and_no_limit_gives_the_default_page()
    {
        var (_, last, lastLink) = await AnswerAsync("?limit=1000&after=1099");
        Assert.Equal(Failures - 1100, JsonDocument.Parse(last).RootElement.GetArrayLength());
        Assert.Null(lastLink);

        var (_, first, firstLink) = await AnswerAsync("");
        Assert.Equal(FailurePaging.DefaultLimit, JsonDocument.Parse(first).RootElement.GetArrayLength());
        Assert.NotNull(firstLink);
    }

    [Fact]
    public async Task Jsonl_streams_every_row_from_the_cursor_on_reading_bounded_pages()
    {
        var (status, body, link) = await AnswerAsync("?format=jsonl&after=9");

        Assert.Equal(StatusCodes.Status200OK, status);
        Assert.Null(link);
        var lines = body.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(Failures - 10, lines.Length);
        Assert.Equal("/v/10.mp4", JsonDocument.Parse(lines[0]).RootElement.GetProperty("source").GetString());
        Assert.Equal($"/v/{Failures - 1}.mp4", JsonDocument.Parse(lines[^1]).RootElement.GetProperty("source").GetString());
        Assert.All(_pageSizesRead, size => Assert.Equal(FailurePaging.StreamPage, size));
        Assert.Equal(3, _pageSizesRead.Count);
    }

    [Theory]
    [InlineData("?limit=0", "limit")]
    [InlineData("?limit=1001", "limit")]
    [InlineData("?after=-1", "after")]
    [InlineData("?format=xml", "format")]
    public async Task A_bad_query_is_a_400_problem_naming_the_parameter(string query, string field)
    {
        var context = Context(query);
        var (paging, problem) = FailurePaging.Parse(context.Request);

        Assert.Null(paging);
        await problem!.ExecuteAsync(context);
        context.Response.Body.Position = 0;
        var body = JsonDocument.Parse(context.Response.Body).RootElement;
        Assert.Equal(StatusCodes.Status400BadRequest, context.Response.StatusCode);
        Assert.True(body.GetProperty("errors").TryGetProperty(field, out _), body.ToString());
    }

    private async Task<(int Status, string Body, string? Link)> AnswerAsync(string query)
    {
        var context = Context(query);
        var (paging, problem) = FailurePaging.Parse(context.Request);
        Assert.Null(problem);
        var result = await paging!.AnswerAsync(context, ReadPageAsync);
        await result.ExecuteAsync(context);
        context.Response.Body.Position = 0;
        using var reader = new StreamReader(context.Response.Body);
        var link = context.Response.Headers.Link.ToString();
        return (context.Response.StatusCode, await reader.ReadToEndAsync(), link.Length > 0 ? link : null);
    }

    private Task<IReadOnlyList<(long VideoId, FailureRow Row)>> ReadPageAsync(long after, int size, CancellationToken cancellationToken)
    {
        _pageSizesRead.Add(size);
        IReadOnlyList<(long, FailureRow)> page = Enumerable.Range(0, Failures).Where(id => id > after).Take(size)
            .Select(id => ((long)id, new FailureRow { Source = $"/v/{id}.mp4", ErrorCode = "corrupt", Message = "bad", Attempts = 1 }))
            .ToList();
        return Task.FromResult(page);
    }

    private static DefaultHttpContext Context(string query)
    {
        var context = new DefaultHttpContext { RequestServices = new ServiceCollection().AddLogging().BuildServiceProvider() };
        context.Request.Path = "/api/jobs/local/failures";
        context.Request.QueryString = new QueryString(query.Length > 0 ? query : null);
        context.Response.Body = new MemoryStream();
        return context;
    }
}

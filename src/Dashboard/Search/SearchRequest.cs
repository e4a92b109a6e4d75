using Microsoft.AspNetCore.Http;

namespace TempMe.Pipeline.Dashboard.Search;

/// <summary>The <c>q</c> and <c>k</c> of <c>GET /api/jobs/{id}/search</c>, checked; a bad one becomes a 400 problem.</summary>
/// <param name="Query">The text.</param>
/// <param name="K">Results wanted.</param>
internal sealed record SearchRequest(string Query, int K)
{
    /// <summary>The most results one request may ask for.</summary>
    public const int MaxK = 100;

    /// <summary>The longest query accepted (the tokenizer keeps 30 words anyway).</summary>
    public const int MaxQueryLength = 1000;

    /// <summary>Parses the query string; returns the request or the problem to answer.</summary>
    public static (SearchRequest? Request, IResult? Problem) Parse(HttpRequest request)
    {
        var q = request.Query["q"].ToString();
        if (string.IsNullOrWhiteSpace(q))
        {
            return (null, Invalid("q", "The query is empty; pass ?q=some+words, e.g. ?q=a+man+is+cooking+pasta."));
        }

        if (q.Length > MaxQueryLength)
        {
            return (null, Invalid("q", $"The query is {q.Length} characters long; at most {MaxQueryLength} are accepted."));
        }

        var k = 10;
        var kText = request.Query["k"].ToString();
        if (kText.Length > 0 && (!int.TryParse(kText, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out k) || k < 1 || k > MaxK))
        {
            return (null, Invalid("k", $"k={kText} is out of range; pass 1..{MaxK}."));
        }

        return (new SearchRequest(q, k), null);
    }

    private static IResult Invalid(string field, string message) =>
        Results.ValidationProblem(new Dictionary<string, string[]> { [field] = [message] }, detail: $"{field}: {message}", title: "invalid search");
}

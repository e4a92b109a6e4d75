using System.Globalization;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;

namespace TempMe.Pipeline.Storage.Internal;

/// <summary>
/// Signs blob service requests with the account key ("SharedKey" authorization, version 2009-09-19 and later).
/// See https://learn.microsoft.com/rest/api/storageservices/authorize-with-shared-key.
/// </summary>
internal static class SharedKeySigner
{
    /// <summary>Adds <c>x-ms-date</c> (when absent) and the <c>Authorization: SharedKey account:signature</c> header.</summary>
    public static void Sign(HttpRequestMessage request, string accountName, byte[] accountKey, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (!request.Headers.Contains("x-ms-date"))
        {
            request.Headers.TryAddWithoutValidation("x-ms-date", now.UtcDateTime.ToString("R", CultureInfo.InvariantCulture));
        }

        var stringToSign = BuildStringToSign(request, accountName);
        var signature = Convert.ToBase64String(HMACSHA256.HashData(accountKey, Encoding.UTF8.GetBytes(stringToSign)));
        request.Headers.Authorization = new AuthenticationHeaderValue("SharedKey", accountName + ":" + signature);
    }

    /// <summary>The canonical string that the signature covers.</summary>
    public static string BuildStringToSign(HttpRequestMessage request, string accountName)
    {
        var content = request.Content?.Headers;
        var contentLength = content?.ContentLength;
        var sb = new StringBuilder(256);
        sb.Append(request.Method.Method.ToUpperInvariant()).Append('\n');
        sb.Append(Join(content?.ContentEncoding)).Append('\n');
        sb.Append(Join(content?.ContentLanguage)).Append('\n');
        sb.Append(contentLength is null or 0 ? string.Empty : contentLength.Value.ToString(CultureInfo.InvariantCulture)).Append('\n');
        sb.Append(content?.ContentMD5 is { } md5 ? Convert.ToBase64String(md5) : string.Empty).Append('\n');
        sb.Append(content?.ContentType?.ToString() ?? string.Empty).Append('\n');
        sb.Append('\n'); // Date: we always send x-ms-date instead.
        sb.Append(Header(request, "If-Modified-Since")).Append('\n');
        sb.Append(Header(request, "If-Match")).Append('\n');
        sb.Append(Header(request, "If-None-Match")).Append('\n');
        sb.Append(Header(request, "If-Unmodified-Since")).Append('\n');
        sb.Append(Header(request, "Range")).Append('\n');

        var msHeaders = new List<KeyValuePair<string, string>>();
        foreach (var header in request.Headers)
        {
            if (header.Key.StartsWith("x-ms-", StringComparison.OrdinalIgnoreCase))
            {
                msHeaders.Add(new(header.Key.ToLowerInvariant(), string.Join(',', header.Value).Trim()));
            }
        }

        msHeaders.Sort(static (a, b) => string.CompareOrdinal(a.Key, b.Key));
        foreach (var (key, value) in msHeaders)
        {
            sb.Append(key).Append(':').Append(value).Append('\n');
        }

        var uri = request.RequestUri ?? throw new InvalidOperationException("The request has no URI.");
        sb.Append('/').Append(accountName).Append(uri.AbsolutePath);

        var query = ParseQuery(uri.Query);
        foreach (var (name, values) in query)
        {
            values.Sort(StringComparer.Ordinal);
            sb.Append('\n').Append(name).Append(':').Append(string.Join(',', values));
        }

        return sb.ToString();
    }

    private static SortedDictionary<string, List<string>> ParseQuery(string query)
    {
        var result = new SortedDictionary<string, List<string>>(StringComparer.Ordinal);
        foreach (var pair in query.TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var eq = pair.IndexOf('=', StringComparison.Ordinal);
            var name = Uri.UnescapeDataString(eq < 0 ? pair : pair[..eq]).ToLowerInvariant();
            var value = eq < 0 ? string.Empty : Uri.UnescapeDataString(pair[(eq + 1)..]);
            if (!result.TryGetValue(name, out var list))
            {
                result[name] = list = [];
            }

            list.Add(value);
        }

        return result;
    }

    private static string Join(ICollection<string>? values) => values is null || values.Count == 0 ? string.Empty : string.Join(',', values);

    private static string Header(HttpRequestMessage request, string name) =>
        request.Headers.TryGetValues(name, out var values) ? string.Join(',', values) : string.Empty;
}

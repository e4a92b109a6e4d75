using Microsoft.AspNetCore.Http;
using Microsoft.Net.Http.Headers;
using TempMe.Pipeline.Contracts;
using TempMe.Pipeline.Indexing.Thumbnails;

namespace TempMe.Pipeline.Dashboard.Search;

/// <summary>
/// <c>GET /api/jobs/{id}/thumbnails/{sha}.jpg</c> for the silo and for <c>tempme index --dashboard</c>: the file name
/// must be exactly 64 lower-case hex digits and <c>.jpg</c>, and the store name is built from the hash alone, so no
/// request reaches any other file of the output. A thumbnail never changes (it is named by its video's content), so it
/// is cached for a year as immutable.
/// </summary>
internal static class ThumbnailResponses
{
    /// <summary>The <c>Cache-Control</c> of a thumbnail.</summary>
    public const string CacheControl = "public, max-age=31536000, immutable";

    /// <summary>The content hash named by <paramref name="file"/>, or the 400 answer for any other name.</summary>
    public static (string? Sha, IResult? Problem) Parse(string file)
    {
        var sha = ThumbnailNames.HashOfFileName(file);
        return sha is null
            ? (null, Results.Problem(title: "invalid thumbnail name", detail: "A thumbnail is named SHA.jpg, where SHA is the 64 lower-case hex digits of a result's content_sha256.", statusCode: StatusCodes.Status400BadRequest))
            : (sha, null);
    }

    /// <summary>Streams the thumbnail of <paramref name="sha"/> from <paramref name="store"/>, or answers 404 when the index has none.</summary>
    public static async Task<IResult> ServeAsync(IBlobStore store, string sha, HttpContext context, CancellationToken cancellationToken)
    {
        Stream content;
        try
        {
            content = await store.OpenReadAsync(ThumbnailNames.For(sha), cancellationToken);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return Results.Problem(title: "thumbnail not found", detail: $"This index has no thumbnail for content {sha} (it could not be made, or the index was written before thumbnails).", statusCode: StatusCodes.Status404NotFound);
        }

        context.Response.Headers.CacheControl = CacheControl;
        return Results.Stream(content, "image/jpeg", entityTag: new EntityTagHeaderValue($"\"{sha}\""));
    }
}

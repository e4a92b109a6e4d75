using Azure.Core;

namespace TempMe.Pipeline.Storage.Internal;

/// <summary>The Blob REST operation a request is (for example "PutBlob"), read from its method and query: for retry reports and metrics.</summary>
internal static class BlobOperationName
{
    /// <summary>The operation name of <paramref name="request"/>.</summary>
    public static string Of(Request request)
    {
        var query = request.Uri.Query;
        var container = query.Contains("restype=container", StringComparison.OrdinalIgnoreCase);
        var comp = Comp(query);
        return request.Method.Method switch
        {
            "HEAD" => container ? "GetContainerProperties" : "GetBlobProperties",
            "GET" when comp == "list" => "ListBlobs",
            "GET" when comp == "blocklist" => "GetBlockList",
            "GET" => container ? "GetContainerProperties" : "GetBlob",
            "PUT" when comp == "block" => "PutBlock",
            "PUT" when comp == "blocklist" => "PutBlockList",
            "PUT" => container ? "CreateContainer" : "PutBlob",
            "DELETE" => container ? "DeleteContainer" : "DeleteBlob",
            var other => other,
        };
    }

    private static string? Comp(string query)
    {
        foreach (var part in query.TrimStart('?').Split('&'))
        {
            if (part.StartsWith("comp=", StringComparison.OrdinalIgnoreCase))
            {
                return part["comp=".Length..].ToLowerInvariant();
            }
        }

        return null;
    }
}

namespace TempMe.Pipeline.Storage.Internal;

/// <summary>
/// Where credentials may be sent. A connection string's key (or SAS) signs requests only to that account's own
/// endpoint; plain http is allowed only where nothing secret can be sniffed: a loopback host (Azurite on this machine)
/// or Azurite's public development key.
/// </summary>
internal static class EndpointPolicy
{
    private static readonly byte[] DevelopmentKey = Convert.FromBase64String(StorageConnectionString.DevelopmentAccountKey);

    /// <summary>The public Azure endpoint of an account.</summary>
    public static Uri CanonicalEndpoint(string account) => new($"https://{account.ToLowerInvariant()}.blob.core.windows.net/");

    /// <summary>Whether <paramref name="endpoint"/> is the connection string's own blob endpoint (or the account's public Azure one).</summary>
    public static bool IsOwnEndpoint(StorageConnectionString cs, Uri endpoint) =>
        SameEndpoint(endpoint, cs.BlobEndpoint) || SameEndpoint(endpoint, CanonicalEndpoint(cs.AccountName));

    /// <summary>Whether requests to <paramref name="endpoint"/> may carry a credential: https, or http to a loopback host or with the public development key.</summary>
    public static bool AllowsCredentialsOver(Uri endpoint, byte[]? key) =>
        endpoint.Scheme == Uri.UriSchemeHttps || endpoint.IsLoopback || (key is not null && key.AsSpan().SequenceEqual(DevelopmentKey));

    /// <summary>Whether <paramref name="key"/> is Azurite's public development key.</summary>
    public static bool IsDevelopmentKey(byte[]? key) => key is not null && key.AsSpan().SequenceEqual(DevelopmentKey);

    /// <summary>The public Azure clouds' blob endpoint suffixes: an Entra ID token is only sent to ACCOUNT.blob.SUFFIX over https.</summary>
    private static readonly string[] AzureBlobSuffixes = ["core.windows.net", "core.chinacloudapi.cn", "core.usgovcloudapi.net"];

    /// <summary>
    /// Whether a bearer token (keyless access) may be sent to <paramref name="endpoint"/>: https to an Azure Storage blob
    /// host only. Any other host could replay the token against every account the identity may read.
    /// </summary>
    public static bool AllowsTokenTo(Uri endpoint, string account) =>
        endpoint.Scheme == Uri.UriSchemeHttps
        && endpoint.AbsolutePath == "/"
        && AzureBlobSuffixes.Any(suffix => string.Equals(endpoint.IdnHost, $"{account}.blob.{suffix}", StringComparison.OrdinalIgnoreCase));

    /// <summary>The fix to name when plain http is refused.</summary>
    public const string HttpsAdvice =
        "Use https (an https:// URL, DefaultEndpointsProtocol=https or an https BlobEndpoint); plain http is only for Azurite on 127.0.0.1, ::1 or localhost.";

    private static bool SameEndpoint(Uri a, Uri b) =>
        string.Equals(a.Scheme, b.Scheme, StringComparison.OrdinalIgnoreCase)
        && string.Equals(a.IdnHost, b.IdnHost, StringComparison.OrdinalIgnoreCase)
        && a.Port == b.Port
        && string.Equals(a.AbsolutePath.TrimEnd('/'), b.AbsolutePath.TrimEnd('/'), StringComparison.OrdinalIgnoreCase);
}

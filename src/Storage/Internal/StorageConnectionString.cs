using TempMe.Pipeline.Contracts;
namespace TempMe.Pipeline.Storage.Internal;

/// <summary>
/// The parts of an Azure Storage connection string that the blob store needs.
/// Holds secrets: <see cref="ToString"/> never prints them.
/// </summary>
internal sealed class StorageConnectionString
{
    /// <summary>The Azurite well-known account.</summary>
    public const string DevelopmentAccountName = "devstoreaccount1";

    /// <summary>The Azurite well-known key (public, documented by Microsoft).</summary>
    public const string DevelopmentAccountKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

    /// <summary>The Azurite blob endpoint.</summary>
    public static readonly Uri DevelopmentBlobEndpoint = new("http://127.0.0.1:10000/devstoreaccount1/");

    private StorageConnectionString(string accountName, Uri blobEndpoint, byte[]? accountKey, string? sas)
    {
        AccountName = accountName;
        BlobEndpoint = blobEndpoint;
        AccountKey = accountKey;
        Sas = sas;
    }

    /// <summary>The storage account name.</summary>
    public string AccountName { get; }

    /// <summary>The blob service endpoint, ending with '/'. For path-style endpoints (Azurite) it includes the account segment.</summary>
    public Uri BlobEndpoint { get; }

    /// <summary>The decoded account key, when the connection string has one.</summary>
    public byte[]? AccountKey { get; }

    /// <summary>A SAS token without the leading '?', when the connection string has one.</summary>
    public string? Sas { get; }

    /// <summary>Parses a connection string; throws <see cref="ArgumentException"/> (free of secrets) when it is malformed.</summary>
    public static StorageConnectionString Parse(string connectionString)
    {
        ArgumentNullException.ThrowIfNull(connectionString);
        var parts = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var raw in connectionString.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var eq = raw.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0)
            {
                throw new ArgumentException("The storage connection string is malformed: every part must be Name=Value separated by ';'.", nameof(connectionString));
            }

            parts[raw[..eq].Trim()] = raw[(eq + 1)..].Trim();
        }

        if (parts.TryGetValue("UseDevelopmentStorage", out var dev) && bool.TryParse(dev, out var useDev) && useDev)
        {
            return new StorageConnectionString(DevelopmentAccountName, DevelopmentBlobEndpoint, Convert.FromBase64String(DevelopmentAccountKey), null);
        }

        parts.TryGetValue("AccountName", out var account);
        parts.TryGetValue("AccountKey", out var key);
        parts.TryGetValue("SharedAccessSignature", out var sas);
        parts.TryGetValue("BlobEndpoint", out var endpointText);

        Uri endpoint;
        if (!string.IsNullOrEmpty(endpointText))
        {
            if (!Uri.TryCreate(endpointText, UriKind.Absolute, out var parsed) || (parsed.Scheme != Uri.UriSchemeHttp && parsed.Scheme != Uri.UriSchemeHttps))
            {
                throw new ArgumentException("The storage connection string has a BlobEndpoint that is not an http(s) URL.", nameof(connectionString));
            }

            endpoint = EnsureTrailingSlash(parsed);
            if (string.IsNullOrEmpty(account))
            {
                account = BlobAddress.IsPathStyleHost(parsed) ? parsed.AbsolutePath.Trim('/').Split('/')[0] : parsed.Host.Split('.')[0];
            }
        }
        else
        {
            if (string.IsNullOrEmpty(account))
            {
                throw new ArgumentException("The storage connection string has neither AccountName nor BlobEndpoint.", nameof(connectionString));
            }

            var protocol = parts.TryGetValue("DefaultEndpointsProtocol", out var p) && !string.IsNullOrEmpty(p) ? p.ToLowerInvariant() : "https";
            if (protocol is not ("http" or "https"))
            {
                throw new ArgumentException("The storage connection string's DefaultEndpointsProtocol must be http or https.", nameof(connectionString));
            }

            var suffix = parts.TryGetValue("EndpointSuffix", out var s) && !string.IsNullOrEmpty(s) ? s : "core.windows.net";
            endpoint = new Uri($"{protocol}://{account}.blob.{suffix}/");
        }

        if (string.IsNullOrEmpty(account))
        {
            throw new ArgumentException("The storage connection string does not name the account (AccountName).", nameof(connectionString));
        }

        byte[]? keyBytes = null;
        if (!string.IsNullOrEmpty(key))
        {
            try
            {
                keyBytes = Convert.FromBase64String(key);
            }
            catch (FormatException)
            {
                throw new ArgumentException("The storage connection string's AccountKey is not valid base64.", nameof(connectionString));
            }
        }

        if (keyBytes is null && string.IsNullOrEmpty(sas))
        {
            throw new ArgumentException("The storage connection string has neither AccountKey nor SharedAccessSignature.", nameof(connectionString));
        }

        if (!EndpointPolicy.AllowsCredentialsOver(endpoint, keyBytes))
        {
            throw new ArgumentException(
                $"The storage connection string's blob endpoint {Redaction.WithoutQuery(endpoint)} is plain http to a host that is not loopback: its account key or SAS would cross the network unprotected. {EndpointPolicy.HttpsAdvice}",
                nameof(connectionString));
        }

        return new StorageConnectionString(account, endpoint, keyBytes, string.IsNullOrEmpty(sas) ? null : sas.TrimStart('?'));
    }

    /// <inheritdoc />
    public override string ToString() => $"AccountName={AccountName};BlobEndpoint={BlobEndpoint};" + (AccountKey is null ? string.Empty : $"AccountKey={SecretRedaction.Mask};") + (Sas is null ? string.Empty : $"SharedAccessSignature={SecretRedaction.Mask};");

    internal static Uri EnsureTrailingSlash(Uri uri)
    {
        var left = uri.GetLeftPart(UriPartial.Path);
        return new Uri(left.EndsWith('/') ? left : left + "/");
    }
}

using System.Net;
using TempMe.Pipeline.Storage.Internal;
using TempMe.Pipeline.Contracts;

namespace TempMe.Pipeline.Storage;

/// <summary>What kind of store an address names.</summary>
public enum BlobAddressKind
{
    /// <summary>A folder on the local file system.</summary>
    LocalFolder,

    /// <summary>An Azure Blob container (or Azurite), optionally under a prefix.</summary>
    AzureBlob,
}

/// <summary>
/// A parsed storage address. Accepted forms:
/// a local folder (<c>/data/videos</c>, <c>./videos</c>, <c>file:///data/videos</c>);
/// <c>https://ACCOUNT.blob.core.windows.net/CONTAINER[/PREFIX][?SAS]</c>;
/// <c>http://127.0.0.1:10000/ACCOUNT/CONTAINER[/PREFIX][?SAS]</c> (Azurite and other path-style endpoints: the host is an IP address or localhost);
/// <c>az://CONTAINER[/PREFIX]</c> (account and endpoint from the connection string in <c>AZURE_STORAGE_CONNECTION_STRING</c>).
/// <see cref="ToString"/> never shows a SAS signature.
/// </summary>
public sealed class BlobAddress
{
    /// <summary>The accepted forms, for error messages and help text.</summary>
    public const string AcceptedForms =
        "Accepted forms: a local folder (/data/videos, ./videos, file:///data/videos); " +
        "https://ACCOUNT.blob.core.windows.net/CONTAINER[/PREFIX][?SAS]; " +
        "http://127.0.0.1:10000/ACCOUNT/CONTAINER[/PREFIX] (Azurite, path-style); " +
        "az://CONTAINER[/PREFIX] (account from " + BlobStoreFactory.ConnectionStringVariable + ").";

    private BlobAddress(BlobAddressKind kind, string original)
    {
        Kind = kind;
        Original = original;
    }

    /// <summary>Local folder or Azure Blob.</summary>
    public BlobAddressKind Kind { get; }

    /// <summary>Whether this is the short <c>az://</c> form whose account comes from a connection string.</summary>
    public bool IsShortForm { get; private init; }

    /// <summary>The absolute folder, for <see cref="BlobAddressKind.LocalFolder"/>.</summary>
    public string? LocalPath { get; private init; }

    /// <summary>The blob service endpoint including the account segment for path-style URLs, ending with '/'; null for local and <c>az://</c> addresses.</summary>
    public Uri? ServiceEndpoint { get; private init; }

    /// <summary>The storage account; null for local and <c>az://</c> addresses.</summary>
    public string? AccountName { get; private init; }

    /// <summary>The container, for Azure addresses.</summary>
    public string? Container { get; private init; }

    /// <summary>The name prefix ("" or ending with '/'), for Azure addresses.</summary>
    public string Prefix { get; private init; } = string.Empty;

    /// <summary>Whether the URL carried a SAS token.</summary>
    public bool HasSas => Sas is not null;

    /// <summary>The SAS token without '?' (secret).</summary>
    internal string? Sas { get; private init; }

    private string Original { get; }

    /// <summary>Parses an address; throws <see cref="ArgumentException"/> naming the problem and the accepted forms.</summary>
    public static BlobAddress Parse(string address) => Parse(address, null, null);

    /// <summary>Whether <paramref name="uri"/> is addressed path-style (<c>http://host:port/ACCOUNT/CONTAINER</c>): its host is an IP address or localhost.</summary>
    internal static bool IsPathStyleHost(Uri uri) =>
        uri.HostNameType is UriHostNameType.IPv4 or UriHostNameType.IPv6 || string.Equals(uri.Host, "localhost", StringComparison.OrdinalIgnoreCase) || IPAddress.TryParse(uri.Host, out _);

    /// <summary>
    /// Parses an address; <paramref name="knownEndpoint"/> (a connection string's blob endpoint) lets URLs on a custom host
    /// be split into endpoint and container.
    /// </summary>
    internal static BlobAddress Parse(string address, Uri? knownEndpoint, string? knownAccount)
    {
        if (string.IsNullOrWhiteSpace(address))
        {
            throw new ArgumentException("The storage address is empty. " + AcceptedForms, nameof(address));
        }

        address = address.Trim();
        var shown = SecretRedaction.Redact(address);
        var schemeEnd = address.IndexOf("://", StringComparison.Ordinal);
        var scheme = schemeEnd > 0 ? address[..schemeEnd].ToLowerInvariant() : null;
        switch (scheme)
        {
            case null:
                return new BlobAddress(BlobAddressKind.LocalFolder, address) { LocalPath = FullPath(address, shown) };
            case "file":
                return ParseFile(address, shown);
            case "az":
                return ParseShort(address, shown);
            case "http" or "https":
                return ParseUrl(address, shown, knownEndpoint, knownAccount);
            default:
                throw new ArgumentException($"The storage address '{shown}' has the unsupported scheme '{scheme}://'. {AcceptedForms}", nameof(address));
        }
    }

    /// <summary>Throws unless <paramref name="container"/> is a valid container name (3-63 lowercase letters, digits and single hyphens).</summary>
    internal static void ValidateContainerName(string container, string shownAddress)
    {
        if (container is "$root" or "$web" or "$logs")
        {
            return;
        }

        var ok = container.Length is >= 3 and <= 63
            && char.IsAsciiLetterOrDigit(container[0])
            && char.IsAsciiLetterOrDigit(container[^1])
            && container.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c == '-')
            && !container.Contains("--", StringComparison.Ordinal);
        if (!ok)
        {
            throw new ArgumentException(
                $"The storage address '{shownAddress}' names the container '{container}', which is not a valid container name (3-63 characters: lowercase letters, digits and single hyphens, starting and ending with a letter or digit). {AcceptedForms}",
                "address");
        }
    }

    /// <inheritdoc />
    public override string ToString() => Kind == BlobAddressKind.LocalFolder
        ? LocalPath!
        : IsShortForm
            ? $"az://{Container}/{Prefix}"
            : $"{ServiceEndpoint}{Container}/{Prefix}" + (HasSas ? "?" + SecretRedaction.Redact(Sas) : string.Empty);

    private static string FullPath(string path, string shown)
    {
        try
        {
            return Path.TrimEndingDirectorySeparator(Path.GetFullPath(path));
        }
        catch (Exception ex) when (ex is ArgumentException or NotSupportedException or PathTooLongException)
        {
            throw new ArgumentException($"The storage address '{shown}' is not a valid local path: {ex.Message} {AcceptedForms}", nameof(path), ex);
        }
    }

    private static BlobAddress ParseFile(string address, string shown)
    {
        if (!Uri.TryCreate(address, UriKind.Absolute, out var uri) || !uri.IsFile)
        {
            throw new ArgumentException($"The storage address '{shown}' is not a valid file:// URL (use file:///absolute/path). {AcceptedForms}", nameof(address));
        }

        if (!string.IsNullOrEmpty(uri.Host) && !string.Equals(uri.Host, "localhost", StringComparison.OrdinalIgnoreCase))
        {
            throw new ArgumentException($"The storage address '{shown}' names the remote host '{uri.Host}'; file:// addresses must be local (file:///absolute/path). {AcceptedForms}", nameof(address));
        }

        var local = string.IsNullOrEmpty(uri.Host) ? uri.LocalPath : new Uri("file://" + uri.AbsolutePath).LocalPath;
        return new BlobAddress(BlobAddressKind.LocalFolder, address) { LocalPath = FullPath(local, shown) };
    }

    private static BlobAddress ParseShort(string address, string shown)
    {
        var rest = address["az://".Length..];
        if (rest.Contains('?', StringComparison.Ordinal))
        {
            throw new ArgumentException($"The storage address '{shown}' has a query; az:// addresses take none (put a SAS on an https:// URL instead). {AcceptedForms}", nameof(address));
        }

        var slash = rest.IndexOf('/', StringComparison.Ordinal);
        var container = slash < 0 ? rest : rest[..slash];
        var prefix = slash < 0 ? string.Empty : rest[(slash + 1)..];
        if (container.Length == 0)
        {
            throw new ArgumentException($"The storage address '{shown}' names no container (az://CONTAINER[/PREFIX]). {AcceptedForms}", nameof(address));
        }

        ValidateContainerName(container, shown);
        return new BlobAddress(BlobAddressKind.AzureBlob, address) { IsShortForm = true, Container = container, Prefix = NormalizePrefix(prefix, shown) };
    }

    private static BlobAddress ParseUrl(string address, string shown, Uri? knownEndpoint, string? knownAccount)
    {
        if (!Uri.TryCreate(address, UriKind.Absolute, out var uri) || string.IsNullOrEmpty(uri.Host))
        {
            throw new ArgumentException($"The storage address '{shown}' is not a valid URL. {AcceptedForms}", nameof(address));
        }

        if (!string.IsNullOrEmpty(uri.UserInfo))
        {
            throw new ArgumentException($"The storage address '{Redaction.WithoutQuery(uri)}' carries user info; credentials go in a SAS query or the connection string. {AcceptedForms}", nameof(address));
        }

        string? sas = null;
        if (uri.Query.Length > 1)
        {
            sas = uri.Query[1..];
            if (!sas.Contains("sig=", StringComparison.OrdinalIgnoreCase))
            {
                throw new ArgumentException($"The storage address '{shown}' has a query that is not a SAS token (no sig=). {AcceptedForms}", nameof(address));
            }
        }

        var segments = uri.AbsolutePath.Trim('/').Split('/', StringSplitOptions.None);
        if (segments.Length == 1 && segments[0].Length == 0)
        {
            segments = [];
        }

        string account;
        Uri endpoint;
        int containerIndex;
        var left = uri.GetLeftPart(UriPartial.Authority) + "/";
        if (knownEndpoint is not null && uri.GetLeftPart(UriPartial.Path).StartsWith(knownEndpoint.GetLeftPart(UriPartial.Path).TrimEnd('/') + "/", StringComparison.OrdinalIgnoreCase))
        {
            endpoint = StorageConnectionString.EnsureTrailingSlash(knownEndpoint);
            var endpointSegments = endpoint.AbsolutePath.Trim('/');
            containerIndex = endpointSegments.Length == 0 ? 0 : endpointSegments.Split('/').Length;
            account = knownAccount ?? (IsPathStyleHost(endpoint) && containerIndex > 0 ? endpointSegments.Split('/')[0] : endpoint.Host.Split('.')[0]);
        }
        else if (IsPathStyleHost(uri))
        {
            if (segments.Length == 0)
            {
                throw new ArgumentException($"The storage address '{shown}' is a path-style URL without the account (http://HOST:PORT/ACCOUNT/CONTAINER[/PREFIX]). {AcceptedForms}", nameof(address));
            }

            account = segments[0];
            endpoint = new Uri(left + Uri.EscapeDataString(account) + "/");
            containerIndex = 1;
        }
        else
        {
            var labels = uri.Host.Split('.');
            if (labels.Length < 3 || !string.Equals(labels[1], "blob", StringComparison.OrdinalIgnoreCase))
            {
                throw new ArgumentException($"The storage address '{shown}' is not an Azure Blob URL: its host should look like ACCOUNT.blob.core.windows.net, or be an IP address/localhost for path-style (Azurite) URLs. {AcceptedForms}", nameof(address));
            }

            account = labels[0].ToLowerInvariant();
            endpoint = new Uri(left);
            containerIndex = 0;
        }

        if (segments.Length <= containerIndex || segments[containerIndex].Length == 0)
        {
            throw new ArgumentException($"The storage address '{shown}' names no container (…/CONTAINER[/PREFIX]). {AcceptedForms}", nameof(address));
        }

        var container = Uri.UnescapeDataString(segments[containerIndex]);
        ValidateContainerName(container, shown);
        var prefix = string.Join('/', segments.Skip(containerIndex + 1).Select(Uri.UnescapeDataString));
        if (uri.AbsolutePath.EndsWith('/') && prefix.Length > 0)
        {
            prefix += "/";
        }

        return new BlobAddress(BlobAddressKind.AzureBlob, address)
        {
            ServiceEndpoint = endpoint,
            AccountName = account,
            Container = container,
            Prefix = NormalizePrefix(prefix, shown),
            Sas = sas,
        };
    }

    private static string NormalizePrefix(string prefix, string shown)
    {
        if (prefix.Length == 0)
        {
            return prefix;
        }

        try
        {
            BlobNames.ValidatePrefix(prefix);
        }
        catch (ArgumentException ex)
        {
            throw new ArgumentException($"The storage address '{shown}' has an invalid prefix: {ex.Message} {AcceptedForms}", "address", ex);
        }

        return prefix.EndsWith('/') ? prefix : prefix + "/";
    }
}

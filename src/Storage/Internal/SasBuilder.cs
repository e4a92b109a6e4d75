using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace TempMe.Pipeline.Storage.Internal;

/// <summary>
/// Builds service SAS tokens for a container, signed with the account key (signed version 2020-12-06 and later format).
/// See https://learn.microsoft.com/rest/api/storageservices/create-service-sas.
/// </summary>
internal static class SasBuilder
{
    /// <summary>The signed version written into tokens.</summary>
    public const string SignedVersion = AzureBlobStore.ServiceVersion;

    /// <summary>
    /// A container SAS token (without the leading '?').
    /// <paramref name="permissions"/> is a subset of "racwdl" in that order (read, add, create, write, delete, list).
    /// </summary>
    public static string CreateContainerSas(string accountName, byte[] accountKey, string container, string permissions, DateTimeOffset expiresOn, DateTimeOffset? startsOn = null, string? protocol = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(accountName);
        ArgumentNullException.ThrowIfNull(accountKey);
        ArgumentException.ThrowIfNullOrEmpty(container);
        ArgumentException.ThrowIfNullOrEmpty(permissions);

        var start = startsOn is { } s ? Format(s) : string.Empty;
        var expiry = Format(expiresOn);
        var canonicalResource = $"/blob/{accountName}/{container}";
        const string resource = "c";
        string[] fields =
        [
            permissions,
            start,
            expiry,
            canonicalResource,
            string.Empty, // signed identifier
            string.Empty, // signed IP
            protocol ?? string.Empty,
            SignedVersion,
            resource,
            string.Empty, // snapshot time
            string.Empty, // encryption scope
            string.Empty, // rscc
            string.Empty, // rscd
            string.Empty, // rsce
            string.Empty, // rscl
            string.Empty, // rsct
        ];
        var stringToSign = string.Join('\n', fields);
        var sig = Convert.ToBase64String(HMACSHA256.HashData(accountKey, Encoding.UTF8.GetBytes(stringToSign)));

        var sb = new StringBuilder();
        sb.Append("sv=").Append(Uri.EscapeDataString(SignedVersion));
        if (start.Length > 0)
        {
            sb.Append("&st=").Append(Uri.EscapeDataString(start));
        }

        sb.Append("&se=").Append(Uri.EscapeDataString(expiry));
        sb.Append("&sr=").Append(resource);
        sb.Append("&sp=").Append(Uri.EscapeDataString(permissions));
        if (protocol is not null)
        {
            sb.Append("&spr=").Append(Uri.EscapeDataString(protocol));
        }

        sb.Append("&sig=").Append(Uri.EscapeDataString(sig));
        return sb.ToString();
    }

    private static string Format(DateTimeOffset value) => value.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture);
}

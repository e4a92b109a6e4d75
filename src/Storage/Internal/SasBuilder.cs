using Azure.Storage;
using Azure.Storage.Sas;

namespace TempMe.Pipeline.Storage.Internal;

/// <summary>
/// Container SAS tokens signed with the account key, made by the SDK's <see cref="BlobSasBuilder"/>: a short form for
/// tooling and the tests that hand a job a SAS-only address.
/// </summary>
internal static class SasBuilder
{
    /// <summary>
    /// A container SAS token (without the leading '?').
    /// <paramref name="permissions"/> is a subset of "racwdl" (read, add, create, write, delete, list).
    /// </summary>
    public static string CreateContainerSas(string accountName, byte[] accountKey, string container, string permissions, DateTimeOffset expiresOn, DateTimeOffset? startsOn = null, string? protocol = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(accountName);
        ArgumentNullException.ThrowIfNull(accountKey);
        ArgumentException.ThrowIfNullOrEmpty(container);
        ArgumentException.ThrowIfNullOrEmpty(permissions);
        var builder = new BlobSasBuilder
        {
            BlobContainerName = container,
            Resource = "c",
            ExpiresOn = expiresOn,
            StartsOn = startsOn ?? default,
            Protocol = protocol is null ? SasProtocol.None : protocol.Contains("http,", StringComparison.Ordinal) || protocol.Contains(",http", StringComparison.Ordinal) ? SasProtocol.HttpsAndHttp : SasProtocol.Https,
        };
        builder.SetPermissions(permissions);
        return builder.ToSasQueryParameters(new StorageSharedKeyCredential(accountName, Convert.ToBase64String(accountKey))).ToString();
    }
}

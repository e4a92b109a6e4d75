using Azure;
using Azure.Core;
using Azure.Identity;
using Azure.Storage;
using Azure.Storage.Blobs;
using TempMe.Pipeline.Contracts;

namespace TempMe.Pipeline.Storage.Internal;

/// <summary>
/// How requests are authorized: the account key (SharedKey), a SAS token, or an Entra ID token credential
/// (<see cref="DefaultAzureCredential"/> for keyless access). Never printed.
/// </summary>
internal sealed class BlobCredential
{
    /// <summary>One chain per process: it caches its tokens, so stores opened per job do not each ask Entra ID again.</summary>
    private static readonly Lazy<TokenCredential> SharedDefaultCredential = new(() => new DefaultAzureCredential());

    private readonly byte[]? _key;
    private readonly string? _sas;
    private readonly TokenCredential? _token;

    private BlobCredential(string accountName, byte[]? key, string? sas, TokenCredential? token)
    {
        AccountName = accountName;
        _key = key;
        _sas = sas;
        _token = token;
    }

    /// <summary>The account the credential belongs to.</summary>
    public string AccountName { get; }

    /// <summary>What kind of credential this is ("SharedKey", "SAS" or "Entra ID"), for messages.</summary>
    public string Kind => _key is not null ? "SharedKey" : _sas is not null ? "SAS" : "Entra ID";

    /// <summary>Whether this is a token credential (keyless).</summary>
    public bool IsToken => _token is not null;

    /// <summary>The account key, or null (for SAS tokens and keyless access).</summary>
    public byte[]? Key => _key;

    /// <summary>A SharedKey credential.</summary>
    public static BlobCredential FromKey(string accountName, byte[] key) => new(accountName, key, null, null);

    /// <summary>A SAS credential; <paramref name="sas"/> may start with '?'.</summary>
    public static BlobCredential FromSas(string accountName, string sas) => new(accountName, null, sas.TrimStart('?'), null);

    /// <summary>A token credential (workload identity, managed identity, <c>az login</c>, ...).</summary>
    public static BlobCredential FromToken(string accountName, TokenCredential token) => new(accountName, null, null, token);

    /// <summary>Keyless access through the SDK's <see cref="DefaultAzureCredential"/> chain.</summary>
    public static BlobCredential Keyless(string accountName) => FromToken(accountName, SharedDefaultCredential.Value);

    /// <summary>The credential a parsed connection string carries (the key wins over a SAS).</summary>
    public static BlobCredential FromConnectionString(StorageConnectionString cs) =>
        cs.AccountKey is { } key ? FromKey(cs.AccountName, key) : FromSas(cs.AccountName, cs.Sas!);

    /// <summary>A service client on <paramref name="endpoint"/> authorized by this credential.</summary>
    public BlobServiceClient CreateServiceClient(Uri endpoint, BlobClientOptions options)
    {
        if (_key is not null)
        {
            return new BlobServiceClient(endpoint, new StorageSharedKeyCredential(AccountName, Convert.ToBase64String(_key)), options);
        }

        if (_sas is not null)
        {
            return new BlobServiceClient(endpoint, new AzureSasCredential(_sas), options);
        }

        return new BlobServiceClient(endpoint, _token!, options);
    }

    /// <inheritdoc />
    public override string ToString() => _sas is not null ? $"SAS({AccountName}, sig={SecretRedaction.Mask})" : $"{Kind}({AccountName})";
}

using TempMe.Pipeline.Contracts;
using TempMe.Pipeline.Storage.Internal;

namespace TempMe.Pipeline.Storage;

/// <summary>Opens an <see cref="IBlobStore"/> from an address (see <see cref="BlobAddress"/> for the forms).</summary>
public static class BlobStoreFactory
{
    /// <summary>The environment variable holding the Azure Storage connection string used by <c>az://</c> addresses.</summary>
    public const string ConnectionStringVariable = "AZURE_STORAGE_CONNECTION_STRING";

    /// <summary>
    /// Opens a store rooted at the address: names passed to it are relative to the address's folder or prefix.
    /// <paramref name="connectionString"/> supplies the account and key for <c>az://</c> addresses, and the key for URLs
    /// without a SAS on that account's own endpoint (its BlobEndpoint, or https://ACCOUNT.blob.core.windows.net); a URL
    /// naming the account on any other host is refused, so the key never signs a request to a stranger. Credentials
    /// travel over plain http only to loopback hosts (Azurite) or with Azurite's public development key. An
    /// https://ACCOUNT.blob.core.windows.net URL with neither a SAS nor a key for its account authenticates keylessly with
    /// <c>DefaultAzureCredential</c> (workload identity, managed identity, <c>az login</c>). Throws <see cref="ArgumentException"/> for malformed addresses or missing credentials.
    /// Azure containers are not created here; call <see cref="EnsureExistsAsync"/> for output stores.
    /// </summary>
    public static IBlobStore Open(string address, string? connectionString, AzureBlobStoreOptions? options = null)
    {
        var cs = string.IsNullOrWhiteSpace(connectionString) ? null : StorageConnectionString.Parse(connectionString);
        var parsed = BlobAddress.Parse(address, cs?.BlobEndpoint, cs?.AccountName);
        if (parsed.Kind == BlobAddressKind.LocalFolder)
        {
            return new LocalFolderStore(parsed.LocalPath!);
        }

        if (parsed.IsShortForm)
        {
            if (cs is null)
            {
                throw new ArgumentException($"The storage address '{parsed}' uses the az:// form, which needs a connection string: set {ConnectionStringVariable} (or pass one). {BlobAddress.AcceptedForms}", nameof(address));
            }

            return new AzureBlobStore(cs.BlobEndpoint, parsed.Container!, parsed.Prefix, BlobCredential.FromConnectionString(cs), options);
        }

        BlobCredential credential;
        if (parsed.Sas is { } sas)
        {
            if (!EndpointPolicy.AllowsCredentialsOver(parsed.ServiceEndpoint!, null))
            {
                throw new ArgumentException($"The storage address '{parsed}' sends its SAS over plain http to a host that is not loopback. {EndpointPolicy.HttpsAdvice}", nameof(address));
            }

            credential = BlobCredential.FromSas(parsed.AccountName!, sas);
        }
        else if (cs is not null && string.Equals(cs.AccountName, parsed.AccountName, StringComparison.OrdinalIgnoreCase))
        {
            // The account name alone proves nothing: any host can be called ACCOUNT.blob.* or serve /ACCOUNT/ path-style.
            if (!EndpointPolicy.IsOwnEndpoint(cs, parsed.ServiceEndpoint!))
            {
                throw new ArgumentException(
                    $"The storage address '{parsed}' is on {parsed.ServiceEndpoint}, which is not the endpoint of account '{cs.AccountName}' in {ConnectionStringVariable} ({cs.BlobEndpoint}): " +
                    $"the account key is only sent to its own endpoint. Use {cs.BlobEndpoint}CONTAINER/PREFIX or az://CONTAINER/PREFIX, or put a SAS token on the URL for another endpoint.",
                    nameof(address));
            }

            credential = BlobCredential.FromConnectionString(cs);
        }
        else if (EndpointPolicy.AllowsTokenTo(parsed.ServiceEndpoint!, parsed.AccountName!))
        {
            // Keyless: workload identity on AKS, managed identity on a VM, az login on a laptop (DefaultAzureCredential).
            credential = BlobCredential.Keyless(parsed.AccountName!);
        }
        else
        {
            throw new ArgumentException(
                $"The storage address '{parsed}' has no credentials for account '{parsed.AccountName}': add a SAS token to the URL (?sv=...&sig=...) or provide a connection string for that account ({ConnectionStringVariable}). " +
                "Keyless access (Entra ID: workload identity, managed identity, az login) is only for https://ACCOUNT.blob.core.windows.net URLs.",
                nameof(address));
        }

        return new AzureBlobStore(parsed.ServiceEndpoint!, parsed.Container!, parsed.Prefix, credential, options);
    }

    /// <summary>Like <see cref="Open"/>, with the connection string read from <see cref="ConnectionStringVariable"/>.</summary>
    public static IBlobStore OpenFromEnvironment(string address, AzureBlobStoreOptions? options = null) =>
        Open(address, Environment.GetEnvironmentVariable(ConnectionStringVariable), options);

    /// <summary>Makes sure the store can be written to: creates the Azure container or the local folder when missing.</summary>
    public static Task EnsureExistsAsync(IBlobStore store, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(store);
        switch (store)
        {
            case AzureBlobStore azure:
                return azure.EnsureContainerAsync(cancellationToken);
            case LocalFolderStore local:
                Directory.CreateDirectory(local.Root);
                return Task.CompletedTask;
            default:
                return Task.CompletedTask;
        }
    }
}

using System.Runtime.CompilerServices;
using Azure;
using Azure.Core;
using Azure.Identity;
using Azure.Storage;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using Azure.Storage.Blobs.Specialized;
using TempMe.Pipeline.Contracts;
using TempMe.Pipeline.Storage.Internal;
using BlobItem = TempMe.Pipeline.Contracts.BlobItem;

namespace TempMe.Pipeline.Storage;

/// <summary>
/// An <see cref="IBlobStore"/> over one Azure Blob container (optionally under a name prefix), through the Azure SDK
/// (<see cref="BlobServiceClient"/>, <see cref="BlobContainerClient"/>, <see cref="BlockBlobClient"/>).
/// Authorizes with the account key, a SAS token or an Entra ID token (keyless, <see cref="DefaultAzureCredential"/>);
/// retries transient faults with the SDK's retry policy. Names passed in and listed out are relative to the prefix.
/// </summary>
public sealed class AzureBlobStore : IBlobStore
{
    private readonly BlobContainerClient _container;
    private readonly string _prefix;
    private readonly BlobCredential _credential;
    private readonly AzureBlobStoreOptions _options;
    private long _retryCount;

    internal AzureBlobStore(Uri accountEndpoint, string container, string prefix, BlobCredential credential, AzureBlobStoreOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(accountEndpoint);
        ArgumentNullException.ThrowIfNull(credential);
        BlobAddress.ValidateContainerName(container, container);
        BlobNames.ValidatePrefix(prefix);
        _options = options ?? new AzureBlobStoreOptions();
        _options.Validate();
        var endpoint = StorageConnectionString.EnsureTrailingSlash(accountEndpoint);
        Container = container;
        _prefix = prefix.Length == 0 || prefix.EndsWith('/') ? prefix : prefix + "/";
        _credential = credential;
        var clientOptions = BlobClientOptionsFactory.Create(endpoint, credential, _options, NoteRetry);
        _container = credential.CreateServiceClient(endpoint, clientOptions).GetBlobContainerClient(container);
        DisplayName = Redaction.WithoutQuery(new Uri(endpoint, Uri.EscapeDataString(container) + "/" + EscapePath(_prefix)));
    }

    /// <inheritdoc />
    public string DisplayName { get; }

    /// <summary>The container name.</summary>
    public string Container { get; }

    /// <summary>The name prefix this store is rooted at ("" or ending with '/').</summary>
    public string Prefix => _prefix;

    /// <summary>Retries performed by this store since it was created (for metrics).</summary>
    public long RetryCount => Interlocked.Read(ref _retryCount);

    /// <summary>The account name.</summary>
    public string AccountName => _credential.AccountName;

    /// <summary>How this store authorizes: "SharedKey", "SAS" or "Entra ID" (keyless).</summary>
    public string CredentialKind => _credential.Kind;

    /// <summary>
    /// Opens a store on <paramref name="container"/> (under <paramref name="prefix"/>) of the account a connection string names.
    /// Accepts <c>DefaultEndpointsProtocol=..;AccountName=..;AccountKey=..[;BlobEndpoint=..|EndpointSuffix=..]</c>,
    /// <c>...;SharedAccessSignature=..</c> and <c>UseDevelopmentStorage=true</c>.
    /// </summary>
    public static AzureBlobStore FromConnectionString(string connectionString, string container, string? prefix = null, AzureBlobStoreOptions? options = null)
    {
        var cs = StorageConnectionString.Parse(connectionString);
        return new AzureBlobStore(cs.BlobEndpoint, container, prefix ?? string.Empty, BlobCredential.FromConnectionString(cs), options);
    }

    /// <summary>Creates the container when it does not exist yet (needs the account key, an account SAS or a role allowing it).</summary>
    public async Task EnsureContainerAsync(CancellationToken cancellationToken)
    {
        try
        {
            await _container.CreateIfNotExistsAsync(cancellationToken: cancellationToken);
            return;
        }
        catch (RequestFailedException e) when (e.Status == 403)
        {
            // A container SAS (or a data-only role) may not create containers but can use an existing one: listing proves it is there.
        }
        catch (Exception e) when (Translate(e, "create the container", null, cancellationToken) is { } mapped)
        {
            throw mapped;
        }

        if (!await ContainerIsListableAsync(cancellationToken))
        {
            throw FromStatus(403, null, "create the container", null, DisplayName, _options.MaxRetryAttempts + 1);
        }
    }

    /// <summary>Deletes the whole container (tests and tooling). A missing container is not an error.</summary>
    internal async Task DeleteContainerAsync(CancellationToken cancellationToken)
    {
        try
        {
            await _container.DeleteIfExistsAsync(cancellationToken: cancellationToken);
        }
        catch (Exception e) when (Translate(e, "delete the container", null, cancellationToken) is { } mapped)
        {
            throw mapped;
        }
    }

    /// <inheritdoc />
    public async IAsyncEnumerable<BlobItem> ListAsync(string prefix, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        BlobNames.ValidatePrefix(prefix);
        var fullPrefix = _prefix + prefix;
        var pages = _container.GetBlobsAsync(new GetBlobsOptions { Prefix = fullPrefix.Length == 0 ? null : fullPrefix }, cancellationToken)
            .AsPages(pageSizeHint: _options.ListPageSize)
            .GetAsyncEnumerator(cancellationToken);
        try
        {
            while (true)
            {
                Page<Azure.Storage.Blobs.Models.BlobItem> page;
                try
                {
                    if (!await pages.MoveNextAsync())
                    {
                        yield break;
                    }

                    page = pages.Current;
                }
                catch (Exception e) when (Translate(e, "list blobs", null, cancellationToken) is { } mapped)
                {
                    throw mapped;
                }

                foreach (var entry in page.Values)
                {
                    if (entry.Name.StartsWith(fullPrefix, StringComparison.Ordinal))
                    {
                        var props = entry.Properties;
                        yield return new BlobItem(entry.Name[_prefix.Length..], props.ContentLength ?? 0, props.LastModified ?? default, props.ETag?.ToString());
                    }
                }
            }
        }
        finally
        {
            await pages.DisposeAsync();
        }
    }

    /// <summary>
    /// Opens a forward-only stream that fetches the blob in ranges of <see cref="AzureBlobStoreOptions.ReadRangeSize"/>
    /// (pinned to the ETag it had when opened), so a large video never sits in memory; a range broken mid-body resumes.
    /// </summary>
    public async Task<Stream> OpenReadAsync(string name, CancellationToken cancellationToken)
    {
        BlobNames.Validate(name);
        try
        {
            var inner = await Blob(name).OpenReadAsync(new BlobOpenReadOptions(allowModifications: false) { BufferSize = _options.ReadRangeSize }, cancellationToken);
            return new TranslatingReadStream(inner, e => Translate(e, "read", name, CancellationToken.None));
        }
        catch (Exception e) when (Translate(e, "read", name, cancellationToken) is { } mapped)
        {
            throw mapped;
        }
    }

    /// <summary>
    /// Reads <paramref name="length"/> bytes starting at <paramref name="offset"/> (fewer at the end of the blob; none past it).
    /// Throws <see cref="FileNotFoundException"/> when the blob does not exist.
    /// </summary>
    public async Task<byte[]> ReadRangeAsync(string name, long offset, int length, CancellationToken cancellationToken)
    {
        BlobNames.Validate(name);
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        if (length == 0)
        {
            _ = await GetPropertiesAsync(name, cancellationToken) ?? throw new FileNotFoundException($"Blob '{name}' was not found in {DisplayName}.", name);
            return [];
        }

        try
        {
            var result = await Blob(name).DownloadContentAsync(new BlobDownloadOptions { Range = new HttpRange(offset, length) }, cancellationToken);
            return result.Value.Content.ToArray();
        }
        catch (RequestFailedException e) when (e.Status == 416)
        {
            return [];
        }
        catch (Exception e) when (Translate(e, "read a range of", name, cancellationToken) is { } mapped)
        {
            throw mapped;
        }
    }

    /// <summary>
    /// Writes a blob: up to <see cref="AzureBlobStoreOptions.SingleUploadThreshold"/> bytes in one Put Blob, larger payloads
    /// as blocks of <see cref="AzureBlobStoreOptions.BlockSize"/> staged in parallel (at most <see cref="AzureBlobStoreOptions.UploadConcurrency"/>
    /// at once) and committed by one block list, so readers see the old blob or the whole new one.
    /// </summary>
    public async Task WriteAsync(string name, Stream content, CancellationToken cancellationToken)
    {
        BlobNames.Validate(name);
        ArgumentNullException.ThrowIfNull(content);
        var upload = new BlobUploadOptions
        {
            TransferOptions = new StorageTransferOptions
            {
                InitialTransferSize = _options.SingleUploadThreshold,
                MaximumTransferSize = _options.BlockSize,
                MaximumConcurrency = _options.UploadConcurrency,
            },
        };
        try
        {
            await Blob(name).UploadAsync(content, upload, cancellationToken);
        }
        catch (Exception e) when (Translate(e, "write", name, cancellationToken) is { } mapped)
        {
            throw mapped;
        }
    }

    /// <inheritdoc />
    public async Task<BlobItem?> GetPropertiesAsync(string name, CancellationToken cancellationToken)
    {
        BlobNames.Validate(name);
        try
        {
            var props = (await Blob(name).GetPropertiesAsync(cancellationToken: cancellationToken)).Value;
            return new BlobItem(name, props.ContentLength, props.LastModified, props.ETag.ToString());
        }
        catch (RequestFailedException e) when (e.Status == 404)
        {
            return null;
        }
        catch (Exception e) when (Translate(e, "get the properties of", name, cancellationToken) is { } mapped)
        {
            throw mapped;
        }
    }

    /// <inheritdoc />
    public async Task DeleteAsync(string name, CancellationToken cancellationToken)
    {
        BlobNames.Validate(name);
        try
        {
            await Blob(name).DeleteIfExistsAsync(cancellationToken: cancellationToken);
        }
        catch (RequestFailedException e) when (e.Status == 404)
        {
            // A missing container holds no blob to delete.
        }
        catch (Exception e) when (Translate(e, "delete", name, cancellationToken) is { } mapped)
        {
            throw mapped;
        }
    }

    /// <summary>Ids of the committed blocks of a blob (empty for a blob written with one Put Blob). For tests and diagnostics.</summary>
    internal async Task<IReadOnlyList<string>> GetCommittedBlocksAsync(string name, CancellationToken cancellationToken)
    {
        BlobNames.Validate(name);
        var list = await _container.GetBlockBlobClient(_prefix + name).GetBlockListAsync(BlockListTypes.Committed, cancellationToken: cancellationToken);
        return list.Value.CommittedBlocks.Select(b => b.Name).ToList();
    }

    /// <inheritdoc />
    public override string ToString() => DisplayName;

    private static string EscapePath(string path) => string.Join('/', path.Split('/').Select(Uri.EscapeDataString));

    private BlobClient Blob(string name) => _container.GetBlobClient(_prefix + name);

    private async Task<bool> ContainerIsListableAsync(CancellationToken cancellationToken)
    {
        try
        {
            await foreach (var unused in _container.GetBlobsAsync(cancellationToken: cancellationToken).AsPages(pageSizeHint: 1))
            {
                return true;
            }

            return true;
        }
        catch (RequestFailedException)
        {
            return false;
        }
    }

    /// <summary>
    /// Maps what the SDK throws to the exceptions callers expect (<see cref="FileNotFoundException"/>,
    /// <see cref="DirectoryNotFoundException"/>, <see cref="UnauthorizedAccessException"/>, <see cref="BlobStorageException"/>);
    /// null for what passes unchanged (caller cancellation, argument errors). Messages never hold secrets: the SDK's own
    /// message (with the service's answer body) is not passed on.
    /// </summary>
    private Exception? Translate(Exception e, string operation, string? name, CancellationToken cancellationToken)
    {
        var what = name is null ? DisplayName : $"blob '{name}' in {DisplayName}";
        var attempts = _options.MaxRetryAttempts + 1;
        switch (e)
        {
            case OperationCanceledException when cancellationToken.IsCancellationRequested:
                return null;
            case AuthenticationFailedException:
                return new UnauthorizedAccessException(
                    $"No Entra ID token for {what}: {SecretRedaction.Redact(e.Message.Split('\n')[0])} Give the pod a workload identity (AKS) or the VM a managed identity, run 'az login' on a laptop, " +
                    $"or use a SAS URL or {BlobStoreFactory.ConnectionStringVariable} instead (see deploy/README.md).");
            case RequestFailedException { Status: > 0 } r:
                return FromStatus(r.Status, r.ErrorCode, operation, name, what, attempts);
            case RequestFailedException or AggregateException or OperationCanceledException or IOException or HttpRequestException:
                return new BlobStorageException($"{operation} on {what} failed after {attempts} attempts: {SecretRedaction.Redact(Innermost(e).Message)}", 0, null);
            default:
                return null;
        }
    }

    private Exception FromStatus(int status, string? code, string operation, string? name, string what, int attempts)
    {
        var detail = $"HTTP {status}{(code is null ? string.Empty : $" ({code})")}";
        return status switch
        {
            404 when name is not null && operation is "read" or "read a range of" =>
                new FileNotFoundException($"Blob '{name}' was not found in {DisplayName} ({detail}).", name),
            404 when code is "ContainerNotFound" =>
                new DirectoryNotFoundException($"Could not {operation} {what}: the container '{Container}' does not exist ({detail}); create it first (EnsureContainerAsync)."),
            401 or 403 => new UnauthorizedAccessException($"Access denied when trying to {operation} {what}: {detail}; " + (_credential.IsToken
                ? "check that the identity has a data role on the container (Storage Blob Data Contributor, or Reader for sources)."
                : "check the account key or SAS (permissions, expiry, clock).")),
            _ when BlobStorageException.IsTransientStatus(status) =>
                new BlobStorageException($"Could not {operation} {what}: {detail}, still failing after {attempts} attempts.", status, code),
            _ => new BlobStorageException($"Could not {operation} {what}: {detail}.", status, code),
        };
    }

    private static Exception Innermost(Exception e)
    {
        while (true)
        {
            var next = e is AggregateException { InnerExceptions.Count: > 0 } a ? a.InnerExceptions[^1] : e.InnerException;
            if (next is null)
            {
                return e;
            }

            e = next;
        }
    }

    private void NoteRetry(string operation, int attempt, string reason)
    {
        Interlocked.Increment(ref _retryCount);
        _options.OnRetry?.Invoke(operation, attempt, reason);
    }
}

using System.Buffers;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Runtime.CompilerServices;
using System.Security;
using System.Text;
using System.Xml.Linq;
using Polly;
using Polly.Timeout;
using TempMe.Pipeline.Contracts;
using TempMe.Pipeline.Storage.Internal;

namespace TempMe.Pipeline.Storage;

/// <summary>
/// An <see cref="IBlobStore"/> over one Azure Blob container (optionally under a name prefix), spoken through the Blob REST API.
/// Authorizes with SharedKey (account key) or a SAS token; retries transient faults with exponential backoff and jitter.
/// Names passed in and listed out are relative to the prefix.
/// </summary>
public sealed class AzureBlobStore : IBlobStore
{
    /// <summary>The <c>x-ms-version</c> sent with every request.</summary>
    public const string ServiceVersion = "2021-08-06";

    private static readonly Lazy<HttpClient> SharedHttp = new(CreateHttpClient);

    private readonly Uri _endpoint;
    private readonly string _prefix;
    private readonly BlobCredential _credential;
    private readonly HttpClient _http;
    private readonly AzureBlobStoreOptions _options;
    private readonly TimeProvider _time;
    private readonly ResiliencePipeline<HttpResponseMessage> _pipeline;
    private long _retryCount;

    internal AzureBlobStore(Uri accountEndpoint, string container, string prefix, BlobCredential credential, HttpClient? http = null, AzureBlobStoreOptions? options = null, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(accountEndpoint);
        ArgumentNullException.ThrowIfNull(credential);
        BlobAddress.ValidateContainerName(container, container);
        BlobNames.ValidatePrefix(prefix);
        _options = options ?? new AzureBlobStoreOptions();
        _options.Validate();
        _endpoint = StorageConnectionString.EnsureTrailingSlash(accountEndpoint);
        Container = container;
        _prefix = prefix.Length == 0 || prefix.EndsWith('/') ? prefix : prefix + "/";
        _credential = credential;
        _http = http ?? SharedHttp.Value;
        _time = timeProvider ?? TimeProvider.System;
        _pipeline = BlobRetry.Build(_options, NoteRetry, _time);
        DisplayName = Redaction.WithoutQuery(new Uri(_endpoint, Uri.EscapeDataString(container) + "/" + EscapePath(_prefix)));
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

    /// <summary>
    /// Opens a store on <paramref name="container"/> (under <paramref name="prefix"/>) of the account a connection string names.
    /// Accepts <c>DefaultEndpointsProtocol=..;AccountName=..;AccountKey=..[;BlobEndpoint=..|EndpointSuffix=..]</c>,
    /// <c>...;SharedAccessSignature=..</c> and <c>UseDevelopmentStorage=true</c>.
    /// </summary>
    public static AzureBlobStore FromConnectionString(string connectionString, string container, string? prefix = null, AzureBlobStoreOptions? options = null)
    {
        var cs = StorageConnectionString.Parse(connectionString);
        return new AzureBlobStore(cs.BlobEndpoint, container, prefix ?? string.Empty, BlobCredential.FromConnectionString(cs), null, options);
    }

    /// <summary>Creates the container when it does not exist yet (needs the account key or an account SAS allowing it).</summary>
    public async Task EnsureContainerAsync(CancellationToken cancellationToken)
    {
        using var response = await SendAsync("CreateContainer", () => new HttpRequestMessage(HttpMethod.Put, ContainerUri("restype=container")), HttpCompletionOption.ResponseContentRead, cancellationToken);
        if (response.StatusCode is HttpStatusCode.Created or HttpStatusCode.Conflict)
        {
            return;
        }

        // A container SAS may not create containers (403) but can use an existing one: listing proves it is there.
        if (response.StatusCode == HttpStatusCode.Forbidden && await ContainerIsListableAsync(cancellationToken))
        {
            return;
        }

        throw Failure(response, "create the container", null);
    }

    private async Task<bool> ContainerIsListableAsync(CancellationToken cancellationToken)
    {
        using var response = await SendAsync("ListBlobs", () => new HttpRequestMessage(HttpMethod.Get, ContainerUri("restype=container&comp=list&maxresults=1")), HttpCompletionOption.ResponseContentRead, cancellationToken);
        return response.StatusCode == HttpStatusCode.OK;
    }

    /// <summary>Deletes the whole container (tests and tooling). A missing container is not an error.</summary>
    internal async Task DeleteContainerAsync(CancellationToken cancellationToken)
    {
        using var response = await SendAsync("DeleteContainer", () => new HttpRequestMessage(HttpMethod.Delete, ContainerUri("restype=container")), HttpCompletionOption.ResponseContentRead, cancellationToken);
        if (response.StatusCode is HttpStatusCode.Accepted or HttpStatusCode.NotFound)
        {
            return;
        }

        throw Failure(response, "delete the container", null);
    }

    /// <inheritdoc />
    public async IAsyncEnumerable<BlobItem> ListAsync(string prefix, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        BlobNames.ValidatePrefix(prefix);
        var fullPrefix = _prefix + prefix;
        string? marker = null;
        do
        {
            var query = new StringBuilder("restype=container&comp=list");
            if (fullPrefix.Length > 0)
            {
                query.Append("&prefix=").Append(Uri.EscapeDataString(fullPrefix));
            }

            query.Append("&maxresults=").Append(_options.ListPageSize.ToString(CultureInfo.InvariantCulture));
            if (marker is not null)
            {
                query.Append("&marker=").Append(Uri.EscapeDataString(marker));
            }

            var uri = ContainerUri(query.ToString());
            List<ListBlobsParser.Entry> entries;
            using (var response = await SendAsync("ListBlobs", () => new HttpRequestMessage(HttpMethod.Get, uri), HttpCompletionOption.ResponseContentRead, cancellationToken))
            {
                if (response.StatusCode != HttpStatusCode.OK)
                {
                    throw Failure(response, "list blobs", null);
                }

                await using var body = await response.Content.ReadAsStreamAsync(cancellationToken);
                (entries, marker) = await ListBlobsParser.ParseAsync(body, cancellationToken);
            }

            foreach (var entry in entries)
            {
                if (entry.Name.StartsWith(fullPrefix, StringComparison.Ordinal))
                {
                    yield return new BlobItem(entry.Name[_prefix.Length..], entry.Size, entry.LastModified, entry.ETag);
                }
            }
        }
        while (marker is not null);
    }

    /// <inheritdoc />
    public async Task<Stream> OpenReadAsync(string name, CancellationToken cancellationToken)
    {
        BlobNames.Validate(name);
        var response = await GetAsync(name, 0, null, null, cancellationToken);
        try
        {
            if (response.StatusCode != HttpStatusCode.OK)
            {
                throw Failure(response, "read", name);
            }

            var length = response.Content.Headers.ContentLength ?? -1;
            var etag = response.Headers.ETag?.Tag;
            var body = await response.Content.ReadAsStreamAsync(cancellationToken);
            return new BlobReadStream(this, name, etag, length, response, body, _options.MaxReadResumes);
        }
        catch
        {
            response.Dispose();
            throw;
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

        using var response = await GetAsync(name, offset, length, null, cancellationToken);
        if (response.StatusCode == HttpStatusCode.RequestedRangeNotSatisfiable)
        {
            return [];
        }

        if (response.StatusCode is not (HttpStatusCode.OK or HttpStatusCode.PartialContent))
        {
            throw Failure(response, "read a range of", name);
        }

        return await response.Content.ReadAsByteArrayAsync(cancellationToken);
    }

    /// <inheritdoc />
    public async Task WriteAsync(string name, Stream content, CancellationToken cancellationToken)
    {
        BlobNames.Validate(name);
        ArgumentNullException.ThrowIfNull(content);
        var head = await ReadUpToAsync(content, _options.SingleUploadThreshold + 1L, cancellationToken);
        if (head.Length <= _options.SingleUploadThreshold)
        {
            await PutBlobAsync(name, head, cancellationToken);
            return;
        }

        await PutBlocksAsync(name, head, content, cancellationToken);
    }

    /// <inheritdoc />
    public async Task<BlobItem?> GetPropertiesAsync(string name, CancellationToken cancellationToken)
    {
        BlobNames.Validate(name);
        var uri = BlobUri(name, null);
        using var response = await SendAsync("GetBlobProperties", () => new HttpRequestMessage(HttpMethod.Head, uri), HttpCompletionOption.ResponseHeadersRead, cancellationToken);
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }

        if (response.StatusCode != HttpStatusCode.OK)
        {
            throw Failure(response, "get the properties of", name);
        }

        var size = response.Content.Headers.ContentLength ?? 0;
        var modified = response.Content.Headers.LastModified ?? default;
        return new BlobItem(name, size, modified, response.Headers.ETag?.Tag);
    }

    /// <inheritdoc />
    public async Task DeleteAsync(string name, CancellationToken cancellationToken)
    {
        BlobNames.Validate(name);
        var uri = BlobUri(name, null);
        using var response = await SendAsync("DeleteBlob", () => new HttpRequestMessage(HttpMethod.Delete, uri), HttpCompletionOption.ResponseContentRead, cancellationToken);
        if (response.StatusCode is HttpStatusCode.Accepted or HttpStatusCode.OK or HttpStatusCode.NotFound)
        {
            return;
        }

        throw Failure(response, "delete", name);
    }

    /// <summary>Ids of the committed blocks of a blob (empty for a blob written with one Put Blob). For tests and diagnostics.</summary>
    internal async Task<IReadOnlyList<string>> GetCommittedBlocksAsync(string name, CancellationToken cancellationToken)
    {
        BlobNames.Validate(name);
        var uri = BlobUri(name, "comp=blocklist&blocklisttype=committed");
        using var response = await SendAsync("GetBlockList", () => new HttpRequestMessage(HttpMethod.Get, uri), HttpCompletionOption.ResponseContentRead, cancellationToken);
        if (response.StatusCode != HttpStatusCode.OK)
        {
            throw Failure(response, "get the block list of", name);
        }

        await using var body = await response.Content.ReadAsStreamAsync(cancellationToken);
        var doc = await XDocument.LoadAsync(body, LoadOptions.None, cancellationToken);
        return doc.Root?.Element("CommittedBlocks")?.Elements("Block").Select(b => b.Element("Name")?.Value ?? string.Empty).ToList() ?? [];
    }

    /// <inheritdoc />
    public override string ToString() => DisplayName;

    /// <summary>Issues a (ranged) Get Blob; the caller owns the response.</summary>
    internal Task<HttpResponseMessage> GetAsync(string name, long offset, long? length, string? ifMatch, CancellationToken cancellationToken)
    {
        var uri = BlobUri(name, null);
        return SendAsync(
            "GetBlob",
            () =>
            {
                var request = new HttpRequestMessage(HttpMethod.Get, uri);
                if (offset > 0 || length is not null)
                {
                    var end = length is { } l ? (offset + l - 1).ToString(CultureInfo.InvariantCulture) : string.Empty;
                    request.Headers.TryAddWithoutValidation("x-ms-range", $"bytes={offset.ToString(CultureInfo.InvariantCulture)}-{end}");
                }

                if (ifMatch is not null)
                {
                    request.Headers.TryAddWithoutValidation("If-Match", ifMatch);
                }

                return request;
            },
            HttpCompletionOption.ResponseHeadersRead,
            cancellationToken);
    }

    /// <summary>Maps a failed answer to the exception callers expect; never includes secrets.</summary>
    internal Exception Failure(HttpResponseMessage response, string operation, string? name)
    {
        var status = (int)response.StatusCode;
        var code = response.Headers.TryGetValues("x-ms-error-code", out var values) ? values.FirstOrDefault() : null;
        var what = name is null ? DisplayName : $"blob '{name}' in {DisplayName}";
        var detail = $"HTTP {status} {response.ReasonPhrase}{(code is null ? string.Empty : $" ({code})")}";
        return response.StatusCode switch
        {
            HttpStatusCode.NotFound when name is not null && operation is "read" or "read a range of" =>
                new FileNotFoundException($"Blob '{name}' was not found in {DisplayName} ({detail}).", name),
            HttpStatusCode.NotFound when code is "ContainerNotFound" =>
                new DirectoryNotFoundException($"Could not {operation} {what}: the container '{Container}' does not exist ({detail}); create it first (EnsureContainerAsync)."),
            HttpStatusCode.Forbidden or HttpStatusCode.Unauthorized =>
                new UnauthorizedAccessException($"Access denied when trying to {operation} {what}: {detail}; check the account key or SAS (permissions, expiry, clock)."),
            _ when BlobRetry.IsTransientStatus(response.StatusCode) =>
                new BlobStorageException($"Could not {operation} {what}: {detail}, still failing after {_options.MaxRetryAttempts + 1} attempts.", status, code),
            _ => new BlobStorageException($"Could not {operation} {what}: {detail}.", status, code),
        };
    }

    private static HttpClient CreateHttpClient()
    {
        var handler = new SocketsHttpHandler
        {
            PooledConnectionLifetime = TimeSpan.FromMinutes(5),
            AutomaticDecompression = DecompressionMethods.None,
            MaxConnectionsPerServer = 64,
        };
        return new HttpClient(handler) { Timeout = Timeout.InfiniteTimeSpan };
    }

    private static string EscapePath(string path) => string.Join('/', path.Split('/').Select(Uri.EscapeDataString));

    private static async Task<byte[]> ReadUpToAsync(Stream content, long limit, CancellationToken cancellationToken)
    {
        if (content.CanSeek)
        {
            var remaining = Math.Max(0, content.Length - content.Position);
            var buffer = new byte[Math.Min(remaining, limit)];
            var read = await content.ReadAtLeastAsync(buffer, buffer.Length, throwOnEndOfStream: false, cancellationToken);
            return read == buffer.Length ? buffer : buffer[..read];
        }

        using var ms = new MemoryStream();
        var chunk = ArrayPool<byte>.Shared.Rent(81920);
        try
        {
            while (ms.Length < limit)
            {
                var want = (int)Math.Min(chunk.Length, limit - ms.Length);
                var n = await content.ReadAsync(chunk.AsMemory(0, want), cancellationToken);
                if (n == 0)
                {
                    break;
                }

                ms.Write(chunk, 0, n);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(chunk);
        }

        return ms.ToArray();
    }

    private async Task PutBlobAsync(string name, byte[] data, CancellationToken cancellationToken)
    {
        var uri = BlobUri(name, null);
        using var response = await SendAsync(
            "PutBlob",
            () =>
            {
                var request = new HttpRequestMessage(HttpMethod.Put, uri) { Content = new ByteArrayContent(data) };
                request.Content.Headers.ContentLength = data.Length;
                request.Headers.TryAddWithoutValidation("x-ms-blob-type", "BlockBlob");
                return request;
            },
            HttpCompletionOption.ResponseContentRead,
            cancellationToken);
        if (response.StatusCode != HttpStatusCode.Created)
        {
            throw Failure(response, "write", name);
        }
    }

    private async Task PutBlocksAsync(string name, byte[] head, Stream rest, CancellationToken cancellationToken)
    {
        var uploadId = Guid.NewGuid().ToString("N");
        var blockSize = _options.BlockSize;
        var concurrency = _options.UploadConcurrency;
        var buffers = new byte[concurrency][];
        var inFlight = new Queue<Task>();
        var ids = new List<string>();
        var headOffset = 0;
        try
        {
            for (var index = 0; ; index++)
            {
                if (inFlight.Count == concurrency)
                {
                    await inFlight.Dequeue();
                }

                var buffer = buffers[index % concurrency] ??= new byte[blockSize];
                var filled = 0;
                if (headOffset < head.Length)
                {
                    filled = Math.Min(blockSize, head.Length - headOffset);
                    Buffer.BlockCopy(head, headOffset, buffer, 0, filled);
                    headOffset += filled;
                }

                if (filled < blockSize)
                {
                    filled += await rest.ReadAtLeastAsync(buffer.AsMemory(filled), blockSize - filled, throwOnEndOfStream: false, cancellationToken);
                }

                if (filled == 0)
                {
                    break;
                }

                if (index >= 50_000)
                {
                    throw new IOException($"Blob '{name}' needs more than 50,000 blocks of {blockSize} bytes; raise AzureBlobStoreOptions.BlockSize.");
                }

                var id = Convert.ToBase64String(Encoding.ASCII.GetBytes($"{uploadId}-{index:D6}"));
                ids.Add(id);
                inFlight.Enqueue(PutBlockAsync(name, id, buffer, filled, cancellationToken));
                if (filled < blockSize)
                {
                    break;
                }
            }

            while (inFlight.Count > 0)
            {
                await inFlight.Dequeue();
            }
        }
        catch
        {
            // Let the other uploads finish (they read our buffers) before reporting the first failure.
            foreach (var task in inFlight)
            {
                try
                {
                    await task;
                }
                catch
                {
                    // The first failure is the one reported.
                }
            }

            throw;
        }

        await PutBlockListAsync(name, ids, cancellationToken);
    }

    private async Task PutBlockAsync(string name, string blockId, byte[] buffer, int count, CancellationToken cancellationToken)
    {
        var uri = BlobUri(name, "comp=block&blockid=" + Uri.EscapeDataString(blockId));
        using var response = await SendAsync(
            "PutBlock",
            () =>
            {
                var request = new HttpRequestMessage(HttpMethod.Put, uri) { Content = new ByteArrayContent(buffer, 0, count) };
                request.Content.Headers.ContentLength = count;
                return request;
            },
            HttpCompletionOption.ResponseContentRead,
            cancellationToken);
        if (response.StatusCode != HttpStatusCode.Created)
        {
            throw Failure(response, "write a block of", name);
        }
    }

    private async Task PutBlockListAsync(string name, List<string> ids, CancellationToken cancellationToken)
    {
        var xml = new StringBuilder("<?xml version=\"1.0\" encoding=\"utf-8\"?><BlockList>");
        foreach (var id in ids)
        {
            xml.Append("<Latest>").Append(id).Append("</Latest>");
        }

        xml.Append("</BlockList>");
        var body = Encoding.UTF8.GetBytes(xml.ToString());
        var uri = BlobUri(name, "comp=blocklist");
        using var response = await SendAsync(
            "PutBlockList",
            () =>
            {
                var request = new HttpRequestMessage(HttpMethod.Put, uri) { Content = new ByteArrayContent(body) };
                request.Content.Headers.ContentLength = body.Length;
                request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/xml");
                return request;
            },
            HttpCompletionOption.ResponseContentRead,
            cancellationToken);
        if (response.StatusCode != HttpStatusCode.Created)
        {
            throw Failure(response, "commit the blocks of", name);
        }
    }

    private Uri ContainerUri(string query) => _credential.Apply(new Uri(_endpoint, Uri.EscapeDataString(Container) + "?" + query));

    private Uri BlobUri(string name, string? query)
    {
        var text = Uri.EscapeDataString(Container) + "/" + EscapePath(_prefix + name) + (query is null ? string.Empty : "?" + query);
        return _credential.Apply(new Uri(_endpoint, text));
    }

    /// <summary>Sends a request built fresh for every attempt through the retry pipeline; maps network failures after retries to <see cref="BlobStorageException"/>.</summary>
    private async Task<HttpResponseMessage> SendAsync(string operation, Func<HttpRequestMessage> createRequest, HttpCompletionOption completion, CancellationToken cancellationToken)
    {
        var context = ResilienceContextPool.Shared.Get(operation, cancellationToken);
        try
        {
            return await _pipeline.ExecuteAsync(
                async ctx =>
                {
                    using var request = createRequest();
                    request.Headers.TryAddWithoutValidation("x-ms-version", ServiceVersion);
                    request.Headers.TryAddWithoutValidation("x-ms-client-request-id", Guid.NewGuid().ToString());
                    _credential.Authorize(request, _time.GetUtcNow());
                    return await _http.SendAsync(request, completion, ctx.CancellationToken);
                },
                context);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception ex) when (ex is HttpRequestException or TimeoutRejectedException or OperationCanceledException or IOException and not BlobStorageException)
        {
            throw new BlobStorageException($"{operation} on {DisplayName} failed after {_options.MaxRetryAttempts + 1} attempts: {Redaction.Redact(ex.Message)}", 0, null, ex);
        }
        finally
        {
            ResilienceContextPool.Shared.Return(context);
        }
    }

    internal void NoteRetry(string operation, int attempt, string reason)
    {
        Interlocked.Increment(ref _retryCount);
        _options.OnRetry?.Invoke(operation, attempt, reason);
    }
}

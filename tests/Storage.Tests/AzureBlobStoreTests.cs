using System.Text;
using TempMe.Pipeline.Contracts;
using TempMe.Pipeline.Storage.Internal;
using TempMe.Pipeline.Storage.Tests.Support;

namespace TempMe.Pipeline.Storage.Tests;

/// <summary>Azure-specific behaviour against Azurite: blocks, ranges, paging, auth, SAS, retries.</summary>
public sealed class AzureBlobStoreTests : IAsyncLifetime
{
    private readonly List<AzureBlobStore> _cleanup = [];

    private static CancellationToken Ct => CancellationToken.None;

    public Task InitializeAsync() => Azurite.EnsureReachableAsync();

    public async Task DisposeAsync()
    {
        foreach (var store in _cleanup)
        {
            await store.DeleteContainerAsync(Ct);
        }
    }

    [Fact]
    public async Task Large_writes_commit_a_block_list_and_small_writes_do_not()
    {
        var store = await NewStoreAsync();
        var data = new byte[(9 * 1024 * 1024) + 5];
        new Random(11).NextBytes(data);
        await store.WriteAsync("big.bin", new MemoryStream(data), Ct);
        var blocks = await store.GetCommittedBlocksAsync("big.bin", Ct);
        Assert.Equal(3, blocks.Count); // 4 MiB + 4 MiB + 1 MiB+5
        Assert.Single(blocks.Select(b => b.Length).Distinct());
        Assert.Equal(data, await store.ReadRangeAsync("big.bin", 0, data.Length, Ct));

        await store.WriteAsync("small.bin", new MemoryStream(data, 0, 1024), Ct);
        Assert.Empty(await store.GetCommittedBlocksAsync("small.bin", Ct));
    }

    [Fact]
    public async Task Range_reads_return_the_requested_slice()
    {
        var store = await NewStoreAsync();
        var data = Enumerable.Range(0, 10_000).Select(i => (byte)(i * 7)).ToArray();
        await store.WriteAsync("r.bin", new MemoryStream(data), Ct);

        Assert.Equal(data[100..150], await store.ReadRangeAsync("r.bin", 100, 50, Ct));
        Assert.Equal(data[..1], await store.ReadRangeAsync("r.bin", 0, 1, Ct));
        Assert.Equal(data[9_990..], await store.ReadRangeAsync("r.bin", 9_990, 100, Ct));
        Assert.Empty(await store.ReadRangeAsync("r.bin", 10_000, 10, Ct));
        Assert.Empty(await store.ReadRangeAsync("r.bin", 5, 0, Ct));
        await Assert.ThrowsAsync<FileNotFoundException>(() => store.ReadRangeAsync("missing.bin", 0, 10, Ct));
        await Assert.ThrowsAsync<FileNotFoundException>(() => store.ReadRangeAsync("missing.bin", 0, 0, Ct));
    }

    [Fact]
    public async Task Listing_pages_with_continuation_and_returns_every_blob_once_in_order()
    {
        var store = await NewStoreAsync(new AzureBlobStoreOptions { ListPageSize = 5 });
        var names = Enumerable.Range(0, 23).Select(i => $"page/{i:D3}.bin").Append("other/x.bin").ToList();
        await Task.WhenAll(names.Select(n => store.WriteAsync(n, new MemoryStream(Encoding.UTF8.GetBytes(n)), Ct)));

        var listed = new List<BlobItem>();
        await foreach (var item in store.ListAsync("page/", Ct))
        {
            listed.Add(item);
        }

        Assert.Equal(names.Where(n => n.StartsWith("page/", StringComparison.Ordinal)).Order(StringComparer.Ordinal), listed.Select(b => b.Name));
        Assert.Equal(23, listed.Select(b => b.Name).Distinct().Count());
        Assert.All(listed, b => Assert.Equal(Encoding.UTF8.GetByteCount(b.Name), b.Size));

        var all = new List<string>();
        await foreach (var item in store.ListAsync(string.Empty, Ct))
        {
            all.Add(item.Name);
        }

        Assert.Equal(24, all.Count);
        Assert.Equal(names.Order(StringComparer.Ordinal), all);
    }

    [Fact]
    public async Task Prefix_scoped_store_sees_only_its_prefix_with_relative_names()
    {
        var root = await NewStoreAsync();
        var scoped = AzureBlobStore.FromConnectionString(Azurite.ConnectionString, root.Container, "job-7");
        Assert.Equal("job-7/", scoped.Prefix);
        await scoped.WriteAsync("out/a.bin", new MemoryStream([1, 2]), Ct);
        await root.WriteAsync("job-70/b.bin", new MemoryStream([3]), Ct);

        var rootNames = new List<string>();
        await foreach (var item in root.ListAsync(string.Empty, Ct))
        {
            rootNames.Add(item.Name);
        }

        Assert.Equal(["job-7/out/a.bin", "job-70/b.bin"], rootNames);
        var scopedItems = new List<BlobItem>();
        await foreach (var item in scoped.ListAsync(string.Empty, Ct))
        {
            scopedItems.Add(item);
        }

        Assert.Equal("out/a.bin", Assert.Single(scopedItems).Name);
        Assert.Equal("out/a.bin", (await scoped.GetPropertiesAsync("out/a.bin", Ct))!.Name);
        Assert.EndsWith("/job-7/", scoped.DisplayName, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Wrong_key_gives_UnauthorizedAccessException_without_the_key_and_without_retrying()
    {
        var good = await NewStoreAsync();
        var wrongKey = Convert.ToBase64String(Encoding.ASCII.GetBytes("definitely-not-the-right-account-key-0123456789"));
        var cs = $"DefaultEndpointsProtocol=http;AccountName={good.AccountName};AccountKey={wrongKey};BlobEndpoint={Azurite.Account.BlobEndpoint}";
        var bad = AzureBlobStore.FromConnectionString(cs, good.Container);

        var ex = await Assert.ThrowsAsync<UnauthorizedAccessException>(() => bad.WriteAsync("x.bin", new MemoryStream([1]), Ct));
        Assert.Contains("check the account key or SAS", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(wrongKey, ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(Convert.ToBase64String(Azurite.Account.AccountKey!), ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(wrongKey, bad.DisplayName, StringComparison.Ordinal);
        await Assert.ThrowsAsync<UnauthorizedAccessException>(() => bad.OpenReadAsync("x.bin", Ct));
        await Assert.ThrowsAsync<UnauthorizedAccessException>(async () =>
        {
            await foreach (var unused in bad.ListAsync(string.Empty, Ct))
            {
            }
        });
        Assert.Equal(0, bad.RetryCount);
    }

    [Fact]
    public async Task Container_sas_url_gives_full_access_through_the_factory_and_hides_the_signature()
    {
        var owner = await NewStoreAsync();
        var account = Azurite.Account;
        var sas = SasBuilder.CreateContainerSas(account.AccountName, account.AccountKey!, owner.Container, "racwdl", DateTimeOffset.UtcNow.AddHours(1), DateTimeOffset.UtcNow.AddMinutes(-5));
        var sig = Uri.UnescapeDataString(sas[(sas.IndexOf("sig=", StringComparison.Ordinal) + 4)..]);
        var url = $"{account.BlobEndpoint}{owner.Container}/shared?{sas}";

        var store = BlobStoreFactory.Open(url, connectionString: null);
        Assert.IsType<AzureBlobStore>(store);
        Assert.DoesNotContain("sig=", store.DisplayName, StringComparison.Ordinal);
        Assert.DoesNotContain(sig, store.DisplayName, StringComparison.Ordinal);

        var data = Encoding.UTF8.GetBytes("through a SAS");
        await store.WriteAsync("v/clip.bin", new MemoryStream(data), Ct);
        await using (var read = await store.OpenReadAsync("v/clip.bin", Ct))
        using (var ms = new MemoryStream())
        {
            await read.CopyToAsync(ms, Ct);
            Assert.Equal(data, ms.ToArray());
        }

        var names = new List<string>();
        await foreach (var item in store.ListAsync(string.Empty, Ct))
        {
            names.Add(item.Name);
        }

        Assert.Equal(["v/clip.bin"], names);
        Assert.Equal(data.Length, (await store.GetPropertiesAsync("v/clip.bin", Ct))!.Size);
        Assert.Equal(data.Length, (await owner.GetPropertiesAsync("shared/v/clip.bin", Ct))!.Size);
        await store.DeleteAsync("v/clip.bin", Ct);
        Assert.Null(await owner.GetPropertiesAsync("shared/v/clip.bin", Ct));
    }

    [Fact]
    public async Task Read_only_sas_cannot_write_and_the_error_hides_the_signature()
    {
        var owner = await NewStoreAsync();
        await owner.WriteAsync("a.bin", new MemoryStream([42]), Ct);
        var account = Azurite.Account;
        var sas = SasBuilder.CreateContainerSas(account.AccountName, account.AccountKey!, owner.Container, "rl", DateTimeOffset.UtcNow.AddHours(1));
        var sig = Uri.UnescapeDataString(sas[(sas.IndexOf("sig=", StringComparison.Ordinal) + 4)..]);
        var store = (AzureBlobStore)BlobStoreFactory.Open($"{account.BlobEndpoint}{owner.Container}?{sas}", null);

        Assert.Equal([42], await store.ReadRangeAsync("a.bin", 0, 1, Ct));
        var ex = await Assert.ThrowsAsync<UnauthorizedAccessException>(() => store.WriteAsync("b.bin", new MemoryStream([1]), Ct));
        Assert.Contains("check the account key or SAS", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(sig, ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(Uri.EscapeDataString(sig), ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("sig=", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Expired_sas_is_refused()
    {
        var owner = await NewStoreAsync();
        var account = Azurite.Account;
        var sas = SasBuilder.CreateContainerSas(account.AccountName, account.AccountKey!, owner.Container, "racwdl", DateTimeOffset.UtcNow.AddHours(-1), DateTimeOffset.UtcNow.AddHours(-2));
        var store = BlobStoreFactory.Open($"{account.BlobEndpoint}{owner.Container}?{sas}", null);
        await Assert.ThrowsAsync<UnauthorizedAccessException>(() => store.WriteAsync("b.bin", new MemoryStream([1]), Ct));
    }

    [Fact]
    public async Task Transient_503s_are_retried_and_counted()
    {
        var target = await NewStoreAsync();
        await using var proxy = new FaultProxy(Azurite.Account.BlobEndpoint, failures: 2);
        var seen = new List<string>();
        var options = new AzureBlobStoreOptions { RetryBaseDelay = TimeSpan.FromMilliseconds(20), OnRetry = (op, attempt, reason) => { lock (seen) { seen.Add($"{op}#{attempt}:{reason}"); } } };
        var store = new AzureBlobStore(proxy.Endpoint, target.Container, string.Empty, BlobCredential.FromConnectionString(Azurite.Account), options: options);

        await store.WriteAsync("retried.bin", new MemoryStream([1, 2, 3]), Ct);

        Assert.Equal(2, proxy.Failed);
        Assert.Equal(2, store.RetryCount);
        Assert.Equal(["PutBlob#1:HTTP 503", "PutBlob#2:HTTP 503"], seen);
        Assert.Equal([1, 2, 3], await target.ReadRangeAsync("retried.bin", 0, 3, Ct));
    }

    [Fact]
    public async Task Persistent_503s_fail_after_the_last_attempt_with_a_transient_BlobStorageException()
    {
        var target = await NewStoreAsync();
        await using var proxy = new FaultProxy(Azurite.Account.BlobEndpoint, failures: 100);
        var options = new AzureBlobStoreOptions { MaxRetryAttempts = 2, RetryBaseDelay = TimeSpan.FromMilliseconds(10) };
        var store = new AzureBlobStore(proxy.Endpoint, target.Container, string.Empty, BlobCredential.FromConnectionString(Azurite.Account), options: options);

        var ex = await Assert.ThrowsAsync<BlobStorageException>(() => store.GetPropertiesAsync("x.bin", Ct));
        Assert.Equal(503, ex.StatusCode);
        Assert.True(ex.IsTransient);
        Assert.Contains("3 attempts", ex.Message, StringComparison.Ordinal);
        Assert.Equal(3, proxy.Failed);
        Assert.Equal(2, store.RetryCount);
    }

    [Fact]
    public async Task Connection_refused_is_retried_then_reported_as_BlobStorageException()
    {
        var target = await NewStoreAsync();
        int port;
        using (var probe = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0))
        {
            probe.Start();
            port = ((System.Net.IPEndPoint)probe.LocalEndpoint).Port;
        }

        var options = new AzureBlobStoreOptions { MaxRetryAttempts = 1, RetryBaseDelay = TimeSpan.FromMilliseconds(10) };
        var store = new AzureBlobStore(new Uri($"http://127.0.0.1:{port}/devstoreaccount1/"), target.Container, string.Empty, BlobCredential.FromConnectionString(Azurite.Account), options: options);
        var ex = await Assert.ThrowsAsync<BlobStorageException>(() => store.OpenReadAsync("x.bin", Ct));
        Assert.Equal(0, ex.StatusCode);
        Assert.True(ex.IsTransient);
        Assert.Equal(1, store.RetryCount);
    }

    [Fact]
    public async Task Attempts_that_hang_time_out_and_are_retried()
    {
        var target = await NewStoreAsync();
        await target.WriteAsync("h.bin", new MemoryStream([5]), Ct);
        await using var proxy = new FaultProxy(Azurite.Account.BlobEndpoint, failures: 1, FaultProxy.FaultKind.Hang);
        var options = new AzureBlobStoreOptions { AttemptTimeout = TimeSpan.FromMilliseconds(500), RetryBaseDelay = TimeSpan.FromMilliseconds(10) };
        var store = new AzureBlobStore(proxy.Endpoint, target.Container, string.Empty, BlobCredential.FromConnectionString(Azurite.Account), options: options);

        var props = await store.GetPropertiesAsync("h.bin", Ct);

        Assert.Equal(1, props!.Size);
        Assert.Equal(1, proxy.Failed);
        Assert.Equal(1, store.RetryCount);
    }

    [Fact]
    public async Task A_read_broken_mid_body_resumes_from_where_it_stopped()
    {
        var target = await NewStoreAsync();
        var data = new byte[3 * 1024 * 1024];
        new Random(12).NextBytes(data);
        await target.WriteAsync("cut.bin", new MemoryStream(data), Ct);

        // The first proxied connection (the Get Blob) is dropped after ~1 MiB of the answer; the resume goes through a fresh one.
        await using var proxy = new FaultProxy(Azurite.Account.BlobEndpoint, failures: 1, FaultProxy.FaultKind.CutResponse, cutAfterBytes: 1024 * 1024);
        var store = new AzureBlobStore(proxy.Endpoint, target.Container, string.Empty, BlobCredential.FromConnectionString(Azurite.Account));
        await using var stream = await store.OpenReadAsync("cut.bin", Ct);
        Assert.Equal(data.Length, stream.Length);
        using var ms = new MemoryStream();
        await stream.CopyToAsync(ms, Ct);

        Assert.Equal(1, proxy.Failed);
        Assert.Equal(2, proxy.ForwardedConnections);
        Assert.Equal(data, ms.ToArray());
    }

    [Fact]
    public async Task A_read_stream_fetches_the_blob_in_ranges_of_the_configured_size()
    {
        var store = await NewStoreAsync(new AzureBlobStoreOptions { ReadRangeSize = 64 * 1024 });
        var data = new byte[(1024 * 1024) + 3];
        new Random(13).NextBytes(data);
        await store.WriteAsync("ranged.bin", new MemoryStream(data), Ct);

        var gets = new List<string>();
        using var ms = new MemoryStream();
        using (new Azure.Core.Diagnostics.AzureEventSourceListener(
            (e, message) =>
            {
                if (e.EventName == "Request" && message.Contains(" GET ", StringComparison.Ordinal) && message.Contains("ranged.bin", StringComparison.Ordinal))
                {
                    lock (gets)
                    {
                        gets.Add(message);
                    }
                }
            },
            System.Diagnostics.Tracing.EventLevel.Informational))
        {
            await using var stream = await store.OpenReadAsync("ranged.bin", Ct);
            Assert.Equal(data.Length, stream.Length);
            await stream.CopyToAsync(ms, Ct);
        }

        Assert.Equal(data, ms.ToArray());
        Assert.Equal(17, gets.Count); // 16 full ranges of 64 KiB and the last 3 bytes: never the whole blob at once
    }

    [Fact]
    public async Task Not_found_is_not_retried()
    {
        var store = await NewStoreAsync();
        await Assert.ThrowsAsync<FileNotFoundException>(() => store.OpenReadAsync("missing.bin", Ct));
        Assert.Null(await store.GetPropertiesAsync("missing.bin", Ct));
        Assert.Equal(0, store.RetryCount);
    }

    [Fact]
    public async Task Caller_cancellation_is_not_retried()
    {
        var store = await NewStoreAsync();
        using var cts = new CancellationTokenSource();
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => store.GetPropertiesAsync("x.bin", cts.Token));
        Assert.Equal(0, store.RetryCount);
    }

    [Fact]
    public async Task Writing_to_a_missing_container_says_so()
    {
        await Azurite.EnsureReachableAsync();
        var store = AzureBlobStore.FromConnectionString(Azurite.ConnectionString, Azurite.NewContainerName());
        var ex = await Assert.ThrowsAsync<DirectoryNotFoundException>(() => store.WriteAsync("a.bin", new MemoryStream([1]), Ct));
        Assert.Contains("EnsureContainerAsync", ex.Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<FileNotFoundException>(() => store.OpenReadAsync("a.bin", Ct));
    }

    [Fact]
    public async Task EnsureContainer_is_idempotent()
    {
        var store = await NewStoreAsync();
        await store.EnsureContainerAsync(Ct);
        await BlobStoreFactory.EnsureExistsAsync(store, Ct);
    }

    [Fact]
    public async Task Use_development_storage_connection_string_works()
    {
        var store = AzureBlobStore.FromConnectionString("UseDevelopmentStorage=true", Azurite.NewContainerName());
        Assert.StartsWith("http://127.0.0.1:10000/devstoreaccount1/", store.DisplayName, StringComparison.Ordinal);
        if (Environment.GetEnvironmentVariable(Azurite.Variable) is { Length: > 0 } custom && !custom.Contains("127.0.0.1:10000", StringComparison.Ordinal))
        {
            return; // The service under test is elsewhere (nothing to clean up there); the parsing above is what this test checks then.
        }

        _cleanup.Add(store);
        await store.EnsureContainerAsync(Ct);
        await store.WriteAsync("a.bin", new MemoryStream([9]), Ct);
        Assert.Equal([9], await store.ReadRangeAsync("a.bin", 0, 1, Ct));
    }

    private async Task<AzureBlobStore> NewStoreAsync(AzureBlobStoreOptions? options = null)
    {
        var store = await Azurite.CreateStoreAsync(options: options);
        _cleanup.Add(store);
        return store;
    }
}

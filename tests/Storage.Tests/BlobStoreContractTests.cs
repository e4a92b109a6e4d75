using System.Security.Cryptography;
using TempMe.Pipeline.Contracts;

namespace TempMe.Pipeline.Storage.Tests;

/// <summary>The <see cref="IBlobStore"/> contract, run against every store (one subclass per store).</summary>
public abstract class BlobStoreContractTests : IAsyncLifetime
{
    /// <summary>Just above the Azure single-upload threshold (8 MiB), so the block path runs.</summary>
    protected const int LargeSize = (9 * 1024 * 1024) + 123;

    private IBlobStore? _store;

    protected IBlobStore Store => _store ?? throw new InvalidOperationException("The store is not initialised.");

    protected static CancellationToken Ct => CancellationToken.None;

    public async Task InitializeAsync() => _store = await CreateStoreAsync();

    public async Task DisposeAsync()
    {
        if (_store is not null)
        {
            await DestroyStoreAsync(_store);
        }
    }

    protected abstract Task<IBlobStore> CreateStoreAsync();

    protected abstract Task DestroyStoreAsync(IBlobStore store);

    protected static byte[] RandomBytes(int length, int seed)
    {
        var data = new byte[length];
        new Random(seed).NextBytes(data);
        return data;
    }

    protected async Task WriteAsync(string name, byte[] data) => await Store.WriteAsync(name, new MemoryStream(data), Ct);

    protected async Task<byte[]> ReadAsync(string name)
    {
        await using var stream = await Store.OpenReadAsync(name, Ct);
        using var ms = new MemoryStream();
        await stream.CopyToAsync(ms, Ct);
        return ms.ToArray();
    }

    protected async Task<List<BlobItem>> ListAsync(string prefix = "")
    {
        var items = new List<BlobItem>();
        await foreach (var item in Store.ListAsync(prefix, Ct))
        {
            items.Add(item);
        }

        return items;
    }

    [Fact]
    public void DisplayName_is_not_empty()
    {
        Assert.False(string.IsNullOrWhiteSpace(Store.DisplayName));
    }

    [Fact]
    public async Task Small_payload_round_trips()
    {
        var data = RandomBytes(1000, 1);
        await WriteAsync("small.bin", data);
        Assert.Equal(data, await ReadAsync("small.bin"));
    }

    [Fact]
    public async Task Empty_payload_round_trips()
    {
        await WriteAsync("empty.bin", []);
        Assert.Empty(await ReadAsync("empty.bin"));
        Assert.Equal(0, (await Store.GetPropertiesAsync("empty.bin", Ct))!.Size);
    }

    [Fact]
    public async Task Large_payload_round_trips()
    {
        var data = RandomBytes(LargeSize, 2);
        await WriteAsync("videos/large.bin", data);
        var back = await ReadAsync("videos/large.bin");
        Assert.Equal(data.Length, back.Length);
        Assert.Equal(SHA256.HashData(data), SHA256.HashData(back));
    }

    [Fact]
    public async Task Large_payload_from_a_non_seekable_stream_round_trips()
    {
        var data = RandomBytes(LargeSize, 3);
        await Store.WriteAsync("ns.bin", new NonSeekableStream(data), Ct);
        Assert.Equal(SHA256.HashData(data), SHA256.HashData(await ReadAsync("ns.bin")));
    }

    [Fact]
    public async Task Names_with_folders_spaces_and_unicode_round_trip()
    {
        const string name = "dir one/sub+dir/vidéo #1 (copy)%20.mp4";
        var data = RandomBytes(100, 4);
        await WriteAsync(name, data);
        Assert.Equal(data, await ReadAsync(name));
        var listed = Assert.Single(await ListAsync());
        Assert.Equal(name, listed.Name);
        Assert.NotNull(await Store.GetPropertiesAsync(name, Ct));
        await Store.DeleteAsync(name, Ct);
        Assert.Null(await Store.GetPropertiesAsync(name, Ct));
    }

    [Fact]
    public async Task Writing_twice_replaces_the_content()
    {
        await WriteAsync("same.bin", RandomBytes(5000, 5));
        var second = RandomBytes(17, 6);
        await WriteAsync("same.bin", second);
        Assert.Equal(second, await ReadAsync("same.bin"));
        Assert.Single(await ListAsync());
    }

    [Fact]
    public async Task Reading_a_missing_blob_throws_FileNotFoundException()
    {
        var ex = await Assert.ThrowsAsync<FileNotFoundException>(() => Store.OpenReadAsync("nope/missing.bin", Ct));
        Assert.Contains("missing.bin", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Properties_report_size_time_and_etag()
    {
        var before = DateTimeOffset.UtcNow.AddMinutes(-5);
        await WriteAsync("p/props.bin", RandomBytes(4321, 7));
        var props = await Store.GetPropertiesAsync("p/props.bin", Ct);
        Assert.NotNull(props);
        Assert.Equal("p/props.bin", props.Name);
        Assert.Equal(4321, props.Size);
        Assert.InRange(props.LastModified, before, DateTimeOffset.UtcNow.AddMinutes(5));
        Assert.False(string.IsNullOrEmpty(props.ETag));
        Assert.Null(await Store.GetPropertiesAsync("p/other.bin", Ct));
    }

    [Fact]
    public async Task Etag_changes_when_content_is_replaced()
    {
        await WriteAsync("e.bin", RandomBytes(10, 8));
        var first = (await Store.GetPropertiesAsync("e.bin", Ct))!.ETag;
        await Task.Delay(20);
        await WriteAsync("e.bin", RandomBytes(11, 9));
        var second = (await Store.GetPropertiesAsync("e.bin", Ct))!.ETag;
        Assert.NotEqual(first, second);
    }

    [Fact]
    public async Task Delete_removes_the_blob_and_deleting_a_missing_blob_is_fine()
    {
        await WriteAsync("d/gone.bin", RandomBytes(10, 10));
        await Store.DeleteAsync("d/gone.bin", Ct);
        Assert.Null(await Store.GetPropertiesAsync("d/gone.bin", Ct));
        await Store.DeleteAsync("d/gone.bin", Ct);
        await Store.DeleteAsync("never/was.bin", Ct);
        Assert.Empty(await ListAsync());
    }

    [Fact]
    public async Task Listing_is_recursive_ordinal_and_filtered_by_prefix()
    {
        string[] names = ["b.bin", "a/2.bin", "a/10.bin", "a/b/c.bin", "ab.bin", "A.bin", "z/z.bin"];
        foreach (var (name, i) in names.Select((n, i) => (n, i)))
        {
            await WriteAsync(name, RandomBytes(i + 1, i));
        }

        var all = await ListAsync();
        Assert.Equal(names.Order(StringComparer.Ordinal).ToArray(), all.Select(b => b.Name).ToArray());
        Assert.Equal(names.Select((n, i) => (n, (long)(i + 1))).OrderBy(t => t.n, StringComparer.Ordinal).Select(t => t.Item2), all.Select(b => b.Size));

        Assert.Equal(["a/10.bin", "a/2.bin", "a/b/c.bin"], (await ListAsync("a/")).Select(b => b.Name).ToArray());
        Assert.Equal(["a/10.bin", "a/2.bin", "a/b/c.bin", "ab.bin"], (await ListAsync("a")).Select(b => b.Name).ToArray());
        Assert.Equal(["a/b/c.bin"], (await ListAsync("a/b")).Select(b => b.Name).ToArray());
        Assert.Empty(await ListAsync("q"));
        Assert.Empty(await ListAsync("q/r/"));
    }

    [Theory]
    [InlineData("")]
    [InlineData("../escape.bin")]
    [InlineData("a/../../escape.bin")]
    [InlineData("a/./b.bin")]
    [InlineData("/absolute.bin")]
    [InlineData("a\\b.bin")]
    [InlineData("a//b.bin")]
    [InlineData("folder/")]
    [InlineData("C:/x.bin")]
    public async Task Bad_names_are_rejected_with_ArgumentException(string name)
    {
        var ex = await Assert.ThrowsAnyAsync<ArgumentException>(() => Store.WriteAsync(name, new MemoryStream([1]), Ct));
        Assert.False(string.IsNullOrWhiteSpace(ex.Message));
        await Assert.ThrowsAnyAsync<ArgumentException>(() => Store.OpenReadAsync(name, Ct));
        await Assert.ThrowsAnyAsync<ArgumentException>(() => Store.GetPropertiesAsync(name, Ct));
        await Assert.ThrowsAnyAsync<ArgumentException>(() => Store.DeleteAsync(name, Ct));
    }

    [Theory]
    [InlineData("../")]
    [InlineData("/abs")]
    [InlineData("a\\b")]
    public async Task Bad_prefixes_are_rejected_with_ArgumentException(string prefix)
    {
        await Assert.ThrowsAnyAsync<ArgumentException>(() => ListAsync(prefix));
    }

    /// <summary>A stream that hides its length, like a network or pipe source.</summary>
    private sealed class NonSeekableStream(byte[] data) : Stream
    {
        private readonly MemoryStream _inner = new(data);

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override void Flush()
        {
        }

        public override int Read(byte[] buffer, int offset, int count) => _inner.Read(buffer, offset, Math.Min(count, 7777));

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}

/// <summary>The contract against a temporary local folder.</summary>
public sealed class LocalFolderStoreContractTests : BlobStoreContractTests
{
    protected override Task<IBlobStore> CreateStoreAsync() =>
        Task.FromResult<IBlobStore>(new LocalFolderStore(Path.Combine(Path.GetTempPath(), "tempme-storage-tests", Guid.NewGuid().ToString("N"))));

    protected override Task DestroyStoreAsync(IBlobStore store)
    {
        var root = ((LocalFolderStore)store).Root;
        if (Directory.Exists(root))
        {
            Directory.Delete(root, recursive: true);
        }

        return Task.CompletedTask;
    }
}

/// <summary>The contract against a fresh container on Azurite (or <c>TEMPME_TEST_BLOB</c>).</summary>
public sealed class AzureBlobStoreContractTests : BlobStoreContractTests
{
    protected override async Task<IBlobStore> CreateStoreAsync() => await Support.Azurite.CreateStoreAsync();

    protected override Task DestroyStoreAsync(IBlobStore store) => ((AzureBlobStore)store).DeleteContainerAsync(CancellationToken.None);
}

/// <summary>The contract against a prefix-scoped Azure store opened through the factory's <c>az://</c> form.</summary>
public sealed class PrefixedAzureBlobStoreContractTests : BlobStoreContractTests
{
    protected override async Task<IBlobStore> CreateStoreAsync()
    {
        await Support.Azurite.EnsureReachableAsync();
        var store = BlobStoreFactory.Open($"az://{Support.Azurite.NewContainerName()}/runs/run 1", Support.Azurite.ConnectionString);
        await BlobStoreFactory.EnsureExistsAsync(store, CancellationToken.None);
        return store;
    }

    protected override Task DestroyStoreAsync(IBlobStore store) => ((AzureBlobStore)store).DeleteContainerAsync(CancellationToken.None);
}

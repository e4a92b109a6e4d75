namespace TempMe.Pipeline.Storage.Tests;

/// <summary>Local-folder specifics: the temporary-file-then-rename write.</summary>
public sealed class LocalFolderStoreTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "tempme-storage-tests", Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_root))
        {
            Directory.Delete(_root, recursive: true);
        }
    }

    [Fact]
    public async Task Names_map_to_subfolders_and_no_temporary_file_is_left()
    {
        var store = new LocalFolderStore(_root);
        await store.WriteAsync("a/b/c.bin", new MemoryStream([1, 2, 3]), CancellationToken.None);
        Assert.Equal([1, 2, 3], await File.ReadAllBytesAsync(Path.Combine(_root, "a", "b", "c.bin")));
        Assert.Equal(["c.bin"], Directory.GetFiles(Path.Combine(_root, "a", "b")).Select(Path.GetFileName));
    }

    [Fact]
    public async Task A_failing_source_leaves_the_previous_content_and_no_temporary_file()
    {
        var store = new LocalFolderStore(_root);
        await store.WriteAsync("x.bin", new MemoryStream([7]), CancellationToken.None);
        await Assert.ThrowsAsync<IOException>(() => store.WriteAsync("x.bin", new FailingStream(), CancellationToken.None));
        Assert.Equal([7], await File.ReadAllBytesAsync(Path.Combine(_root, "x.bin")));
        Assert.Equal(["x.bin"], Directory.GetFiles(_root).Select(Path.GetFileName));
    }

    [Fact]
    public async Task Listing_skips_temporary_files_of_writes_in_progress()
    {
        var store = new LocalFolderStore(_root);
        await store.WriteAsync("v/a.bin", new MemoryStream([1]), CancellationToken.None);
        await File.WriteAllBytesAsync(Path.Combine(_root, "v", $".b.bin.tmp-{Guid.NewGuid():N}"), [1]);
        await File.WriteAllBytesAsync(Path.Combine(_root, "v", ".hidden"), [1]);
        var names = new List<string>();
        await foreach (var item in store.ListAsync(string.Empty, CancellationToken.None))
        {
            names.Add(item.Name);
        }

        Assert.Equal(["v/.hidden", "v/a.bin"], names);
        await Assert.ThrowsAsync<ArgumentException>(() => store.WriteAsync($"v/.b.bin.tmp-{Guid.NewGuid():N}", new MemoryStream([1]), CancellationToken.None));
    }

    [Fact]
    public async Task A_reader_keeps_its_content_while_the_blob_is_replaced()
    {
        var store = new LocalFolderStore(_root);
        await store.WriteAsync("r.bin", new MemoryStream([1, 1, 1]), CancellationToken.None);
        await using var reader = await store.OpenReadAsync("r.bin", CancellationToken.None);
        await store.WriteAsync("r.bin", new MemoryStream([2, 2]), CancellationToken.None);
        using var ms = new MemoryStream();
        await reader.CopyToAsync(ms);
        Assert.Equal([1, 1, 1], ms.ToArray());
    }

    [Fact]
    public async Task Concurrent_writers_to_one_name_leave_one_whole_version()
    {
        var store = new LocalFolderStore(_root);
        var payloads = Enumerable.Range(1, 8).Select(i => Enumerable.Repeat((byte)i, 64 * 1024 * i).ToArray()).ToArray();
        await Task.WhenAll(payloads.Select(p => Task.Run(() => store.WriteAsync("c.bin", new MemoryStream(p), CancellationToken.None))));
        var final = await File.ReadAllBytesAsync(Path.Combine(_root, "c.bin"));
        Assert.Contains(payloads, p => p.AsSpan().SequenceEqual(final));
        Assert.Equal(["c.bin"], Directory.GetFiles(_root).Select(Path.GetFileName));
    }

    [Fact]
    public void DisplayName_is_the_absolute_root()
    {
        Assert.Equal(Path.GetFullPath(_root), new LocalFolderStore(_root + "/").DisplayName);
    }

    private sealed class FailingStream : Stream
    {
        private int _reads;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override void Flush()
        {
        }

        public override int Read(byte[] buffer, int offset, int count)
        {
            if (_reads++ > 0)
            {
                throw new IOException("source broke");
            }

            buffer[offset] = 9;
            return 1;
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}

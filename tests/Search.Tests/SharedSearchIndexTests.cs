using TempMe.Pipeline.Search;
using TempMe.Pipeline.Storage;
using TempMe.Pipeline.Testing;
using TempMe.Pipeline.Testing.Search;

namespace TempMe.Pipeline.Search.Tests;

/// <summary><see cref="SharedSearchIndex"/>: a replaced index stays mapped while a search still holds it.</summary>
public sealed class SharedSearchIndexTests(TinySearchIndex index) : IClassFixture<TinySearchIndex>
{
    [Fact]
    public async Task A_retired_index_stays_mapped_until_its_last_user_releases_it()
    {
        var opened = await SearchIndex.OpenAsync(new LocalFolderStore(index.Index), index.Index, CancellationToken.None);
        using var shared = new SharedSearchIndex(opened);
        Assert.True(shared.TryAcquire());
        Assert.True(shared.TryAcquire());

        // A newer version replaced it: no new users, but the two searches still running keep reading the mapping.
        shared.Retire();
        Assert.False(shared.TryAcquire());
        Assert.False(shared.IsDisposed);
        var hits = shared.Index.Search(index.QueryEmbedding, 3);
        Assert.Equal(3, hits.Count);

        shared.Release();
        Assert.False(shared.IsDisposed);
        Assert.Equal(index.Vectors[0], shared.Index.Matrices[0].Row(0).ToArray());

        shared.Release();
        Assert.True(shared.IsDisposed);
        Assert.Throws<ObjectDisposedException>(() => shared.Index.Matrices[0].Row(0).ToArray());
        Assert.Throws<InvalidOperationException>(shared.Release);
    }

    [Fact]
    public async Task An_unused_index_is_disposed_when_retired()
    {
        var opened = await SearchIndex.OpenAsync(new LocalFolderStore(index.Index), index.Index, CancellationToken.None);
        var shared = new SharedSearchIndex(opened);
        Assert.True(shared.TryAcquire());
        shared.Release();
        Assert.False(shared.IsDisposed);
        shared.Retire();
        Assert.True(shared.IsDisposed);
    }
}

namespace TempMe.Pipeline.Search;

/// <summary>
/// A <see cref="SearchIndex"/> shared by concurrent searches and counted: each search acquires it and releases it
/// when done; once retired (a newer version replaced it) it is disposed when its last user releases it. Disposing
/// unmaps the vectors, so it must never happen under a scan still reading them, however long that scan takes.
/// </summary>
public sealed class SharedSearchIndex : IDisposable
{
    private readonly Lock _gate = new();
    private int _users;
    private bool _retired;
    private bool _disposed;

    /// <summary>Shares <paramref name="index"/>, which this object now owns.</summary>
    public SharedSearchIndex(SearchIndex index)
    {
        ArgumentNullException.ThrowIfNull(index);
        Index = index;
    }

    /// <summary>The index; use it only between a successful <see cref="TryAcquire"/> and its <see cref="Release"/>.</summary>
    public SearchIndex Index { get; }

    /// <summary>Whether the index has been disposed (retired and released by its last user).</summary>
    public bool IsDisposed
    {
        get
        {
            lock (_gate)
            {
                return _disposed;
            }
        }
    }

    /// <summary>Takes a use of the index; false once retired (the caller opens the newer version instead).</summary>
    public bool TryAcquire()
    {
        lock (_gate)
        {
            if (_retired)
            {
                return false;
            }

            _users++;
            return true;
        }
    }

    /// <summary>Ends a use taken by <see cref="TryAcquire"/>; the last use of a retired index disposes it.</summary>
    public void Release()
    {
        lock (_gate)
        {
            if (_users == 0)
            {
                throw new InvalidOperationException("Release without a matching TryAcquire.");
            }

            _users--;
            DisposeIfUnused();
        }
    }

    /// <summary>Refuses new uses and disposes the index as soon as no search is using it (at once if none is).</summary>
    public void Retire()
    {
        lock (_gate)
        {
            _retired = true;
            DisposeIfUnused();
        }
    }

    /// <summary>The same as <see cref="Retire"/>: searches still running finish on the mapped index.</summary>
    public void Dispose() => Retire();

    private void DisposeIfUnused()
    {
        if (_retired && _users == 0 && !_disposed)
        {
            _disposed = true;
            Index.Dispose();
        }
    }
}

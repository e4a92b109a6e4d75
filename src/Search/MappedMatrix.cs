using System.IO.MemoryMappedFiles;
using TempMe.Pipeline.Indexing.Output;

namespace TempMe.Pipeline.Search;

/// <summary>
/// A float32 <c>.npy</c> matrix memory-mapped read-only: rows are read straight from the page cache, so searching
/// a matrix larger than memory needs no copy of it (the OS pages it in and out).
/// </summary>
public sealed unsafe class MappedMatrix : IDisposable
{
    private readonly MemoryMappedFile? _file;
    private readonly MemoryMappedViewAccessor? _view;
    private readonly float* _data;
    private bool _disposed;

    private MappedMatrix(MemoryMappedFile? file, MemoryMappedViewAccessor? view, float* data, long rows, int columns)
    {
        _file = file;
        _view = view;
        _data = data;
        Rows = rows;
        Columns = columns;
    }

    /// <summary>Rows.</summary>
    public long Rows { get; }

    /// <summary>Columns.</summary>
    public int Columns { get; }

    /// <summary>Maps <paramref name="path"/> (a float32 <c>.npy</c>).</summary>
    public static MappedMatrix Open(string path)
    {
        NpyHeader header;
        using (var stream = File.OpenRead(path))
        {
            try
            {
                header = NpyFormat.ReadHeader(stream);
            }
            catch (InvalidDataException e)
            {
                throw new InvalidDataException($"{path}: {e.Message}", e);
            }
        }

        if (header.Rows == 0 || header.Columns == 0)
        {
            return new MappedMatrix(null, null, null, header.Rows, header.Columns);
        }

        var file = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
        MemoryMappedViewAccessor? view = null;
        try
        {
            view = file.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
            byte* pointer = null;
            view.SafeMemoryMappedViewHandle.AcquirePointer(ref pointer);
            pointer += view.PointerOffset + header.DataOffset;
            return new MappedMatrix(file, view, (float*)pointer, header.Rows, header.Columns);
        }
        catch
        {
            // Both, or a failed AcquirePointer would leave the view mapped until the finalizer ran.
            view?.Dispose();
            file.Dispose();
            throw;
        }
    }

    /// <summary>Row <paramref name="row"/>, valid until the matrix is disposed.</summary>
    public ReadOnlySpan<float> Row(long row)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentOutOfRangeException.ThrowIfNegative(row);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(row, Rows);
        return new ReadOnlySpan<float>(_data + (row * Columns), Columns);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        if (_view is not null)
        {
            _view.SafeMemoryMappedViewHandle.ReleasePointer();
            _view.Dispose();
        }

        _file?.Dispose();
    }
}

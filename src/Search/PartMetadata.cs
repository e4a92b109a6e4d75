using System.Text.Json;
using Microsoft.Win32.SafeHandles;
using TempMe.Pipeline.Indexing.Output;

namespace TempMe.Pipeline.Search;

/// <summary>
/// A part's <c>.jsonl</c> metadata kept on disk: only where each line starts is held in memory (8 bytes a row), and a
/// row is parsed when a result needs it, so a million-row index costs megabytes, not the size of its metadata objects.
/// </summary>
public sealed class PartMetadata : IDisposable
{
    private readonly SafeFileHandle _file;
    private readonly long[] _starts;
    private readonly string _displayName;

    private PartMetadata(SafeFileHandle file, long[] starts, string displayName)
    {
        _file = file;
        _starts = starts;
        _displayName = displayName;
    }

    /// <summary>Rows (non-empty lines).</summary>
    public int Count => _starts.Length - 1;

    /// <summary>Indexes the lines of <paramref name="path"/>; <paramref name="displayName"/> names it in messages.</summary>
    public static PartMetadata Open(string path, string displayName)
    {
        var starts = new List<long>();
        var buffer = new byte[1 << 16];
        using (var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.SequentialScan))
        {
            long offset = 0;
            var lineStart = 0L;
            int read;
            while ((read = stream.Read(buffer, 0, buffer.Length)) > 0)
            {
                for (var i = 0; i < read; i++)
                {
                    if (buffer[i] == (byte)'\n')
                    {
                        if (offset + i > lineStart)
                        {
                            starts.Add(lineStart);
                        }

                        lineStart = offset + i + 1;
                    }
                }

                offset += read;
            }

            if (offset > lineStart)
            {
                starts.Add(lineStart);
            }

            // A sentinel end, so row r spans starts[r]..starts[r + 1].
            starts.Add(offset + 1);
        }

        return new PartMetadata(File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read), [.. starts], displayName);
    }

    /// <summary>Parses row <paramref name="row"/>; throws <see cref="SearchIndexException"/> when the line is not a metadata row.</summary>
    public PartRow Read(int row)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(row);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(row, Count);
        var length = (int)Math.Min(int.MaxValue, _starts[row + 1] - _starts[row]);
        var bytes = new byte[length];
        var read = RandomAccess.Read(_file, bytes, _starts[row]);
        var line = bytes.AsSpan(0, read).TrimEnd("\r\n"u8);
        try
        {
            return JsonSerializer.Deserialize<PartRow>(line, OutputJson.Options) ?? throw new JsonException("null row");
        }
        catch (JsonException e)
        {
            throw new SearchIndexException($"{_displayName} row {row + 1} is not a metadata row ({e.Message}); the index is corrupt: run tempme index again.", e);
        }
    }

    /// <inheritdoc />
    public void Dispose() => _file.Dispose();
}

using System.Numerics.Tensors;

namespace TempMe.Pipeline.Search;

/// <summary>
/// Exact top-k by dot product over memory-mapped matrices: rows are scored in place with SIMD dot products, in
/// blocks spread over the cores (a block never spans parts), each block keeping its own top-k, merged at the end.
/// </summary>
public static class ExactSearch
{
    /// <summary>Rows per work item: large enough to amortise scheduling, small enough to balance two cores.</summary>
    private const long BlockRows = 16_384;

    /// <summary>The <paramref name="k"/> best rows of <paramref name="parts"/> for <paramref name="query"/>, best first.</summary>
    public static ScoredRow[] TopK(IReadOnlyList<MappedMatrix> parts, ReadOnlySpan<float> query, int k, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(parts);
        ArgumentOutOfRangeException.ThrowIfLessThan(k, 1);
        foreach (var part in parts)
        {
            if (part.Rows > 0 && part.Columns != query.Length)
            {
                throw new ArgumentException($"The query has {query.Length} values but the index rows have {part.Columns}.", nameof(query));
            }
        }

        var blocks = new List<(int Part, long Start, long End)>();
        for (var p = 0; p < parts.Count; p++)
        {
            for (var start = 0L; start < parts[p].Rows; start += BlockRows)
            {
                blocks.Add((p, start, Math.Min(parts[p].Rows, start + BlockRows)));
            }
        }

        var q = query.ToArray();
        var results = new ScoredRow[blocks.Count][];
        Parallel.For(0, blocks.Count, new ParallelOptions { CancellationToken = cancellationToken }, b =>
        {
            var (p, start, end) = blocks[b];
            var matrix = parts[p];
            // A block never yields more than its rows: a large k must not allocate k slots per block.
            var top = new TopKCollector((int)Math.Min(k, end - start));
            for (var row = start; row < end; row++)
            {
                var score = TensorPrimitives.Dot(matrix.Row(row), q);
                if (score >= top.Threshold)
                {
                    top.Add(new ScoredRow(p, row, score));
                }
            }

            results[b] = top.ToSortedArray();
        });

        var merged = new TopKCollector(k);
        foreach (var block in results)
        {
            foreach (var row in block)
            {
                merged.Add(row);
            }
        }

        return merged.ToSortedArray();
    }
}

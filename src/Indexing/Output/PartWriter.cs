using System.Text;
using System.Text.Json;
using TempMe.Pipeline.Contracts;

namespace TempMe.Pipeline.Indexing.Output;

/// <summary>
/// Writes a shard's part: <c>part-NNNNN.npy</c> (float32 <c>[n, E]</c>) and <c>part-NNNNN.jsonl</c> (one line per row).
/// Each file goes to the store with an atomic write, the <c>.jsonl</c> last, so a reader that sees the metadata also sees the matrix.
/// </summary>
public static class PartWriter
{
    /// <summary>Writes the part for the successful <paramref name="results"/>, in their order; returns the rows written.</summary>
    public static async Task<int> WriteAsync(IBlobStore store, string partName, IReadOnlyList<VideoResult> results, int embeddingSize, CancellationToken cancellationToken)
    {
        var rows = results.Where(r => r.Succeeded).ToList();
        var matrix = new float[rows.Count * embeddingSize];
        var lines = new StringBuilder();
        for (var i = 0; i < rows.Count; i++)
        {
            var embedding = rows[i].Embedding!;
            if (embedding.Vector.Length != embeddingSize)
            {
                throw new InvalidOperationException($"Embedding of {rows[i].Source} has {embedding.Vector.Length} values, expected {embeddingSize}.");
            }

            embedding.Vector.CopyTo(matrix, i * embeddingSize);
            lines.Append(JsonSerializer.Serialize(new PartRow
            {
                Row = i,
                Source = rows[i].Source,
                ContentSha256 = rows[i].ContentSha256 ?? "",
                DurationSeconds = embedding.DurationSeconds is { } d ? Math.Round(d, 6) : null,
                TimestampsSeconds = embedding.TimestampsSeconds.Select(t => Math.Round(t, 6)).ToArray(),
                Thumbnail = rows[i].Thumbnail,
            }, OutputJson.Options)).Append('\n');
        }

        using (var npy = new MemoryStream())
        {
            NpyFormat.WriteFloat32(npy, matrix, rows.Count, embeddingSize);
            npy.Position = 0;
            await store.WriteAsync(partName + ".npy", npy, cancellationToken);
        }

        using (var jsonl = new MemoryStream(Encoding.UTF8.GetBytes(lines.ToString())))
        {
            await store.WriteAsync(partName + ".jsonl", jsonl, cancellationToken);
        }

        return rows.Count;
    }
}

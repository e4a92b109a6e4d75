using System.Text.Json;
using TempMe.Pipeline.Contracts;
using TempMe.Pipeline.Indexing.Output;

namespace TempMe.Pipeline.Search;

/// <summary>
/// A finished index opened for search: its manifest, every part's matrix memory-mapped and its metadata rows.
/// A local folder is mapped in place; a blob index is first copied part by part into a private temporary folder
/// (removed on dispose), because only a local file can be mapped.
/// </summary>
public sealed class SearchIndex : IDisposable
{
    private readonly List<MappedMatrix> _matrices;
    private readonly List<PartMetadata> _rows;
    private readonly string? _temporaryFolder;

    private SearchIndex(IndexManifest manifest, List<MappedMatrix> matrices, List<PartMetadata> rows, string? temporaryFolder, string displayName)
    {
        Manifest = manifest;
        _matrices = matrices;
        _rows = rows;
        _temporaryFolder = temporaryFolder;
        DisplayName = displayName;
    }

    /// <summary>The index's <c>index.json</c>.</summary>
    public IndexManifest Manifest { get; }

    /// <summary>Where the index is, for messages.</summary>
    public string DisplayName { get; }

    /// <summary>The mapped part matrices, in manifest order.</summary>
    public IReadOnlyList<MappedMatrix> Matrices => _matrices;

    /// <summary>Total rows.</summary>
    public long Count => _matrices.Sum(m => m.Rows);

    /// <summary>The metadata of row <paramref name="row"/> of part <paramref name="part"/>.</summary>
    public PartRow Metadata(int part, long row) => _rows[part].Read((int)row);

    /// <summary>Every (part, row, metadata), in index order.</summary>
    public IEnumerable<(int Part, long Row, PartRow Metadata)> Entries()
    {
        for (var p = 0; p < _rows.Count; p++)
        {
            for (var r = 0; r < _rows[p].Count; r++)
            {
                yield return (p, r, _rows[p].Read(r));
            }
        }
    }

    /// <summary>The <paramref name="k"/> best rows for a unit-length <paramref name="query"/>, ranked.</summary>
    public IReadOnlyList<SearchHit> Search(ReadOnlySpan<float> query, int k, CancellationToken cancellationToken = default)
    {
        if (query.Length != Manifest.EmbeddingSize)
        {
            throw new SearchIndexException($"The query embedding has {query.Length} values but {DisplayName} holds {Manifest.EmbeddingSize}-wide rows: the query model is not the index's model.");
        }

        var top = ExactSearch.TopK(_matrices, query, k, cancellationToken);
        return top.Select((t, i) => new SearchHit(i + 1, t.Score, Metadata(t.Part, t.Row))).ToList();
    }

    /// <summary>
    /// Opens the index in <paramref name="store"/>. <paramref name="localRoot"/> is the store's folder when it is a
    /// local one (mapped in place); otherwise parts are downloaded. Throws <see cref="SearchIndexException"/> for an
    /// index that is missing, unfinished or inconsistent.
    /// </summary>
    public static async Task<SearchIndex> OpenAsync(IBlobStore store, string? localRoot, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(store);
        var manifest = await ReadManifestAsync(store, cancellationToken);
        string? temporary = null;
        var matrices = new List<MappedMatrix>();
        var rows = new List<PartMetadata>();
        try
        {
            if (localRoot is null)
            {
                temporary = Directory.CreateTempSubdirectory("tempme-search-").FullName;
            }

            for (var i = 0; i < manifest.Parts.Count; i++)
            {
                var part = manifest.Parts[i];
                if (!IsSafeName(part.Embeddings) || !IsSafeName(part.Metadata))
                {
                    throw new SearchIndexException($"{store.DisplayName}: index.json names a part outside the index ({part.Embeddings}); the file is corrupt or crafted.");
                }

                var path = localRoot is not null ? Path.Combine(localRoot, part.Embeddings) : await DownloadAsync(store, part.Embeddings, temporary!, i, cancellationToken);
                if (!File.Exists(path))
                {
                    throw new SearchIndexException($"{store.DisplayName}: part {part.Embeddings} listed in index.json is missing; the index was copied incompletely: copy it again, or run tempme index again on the same --out.");
                }

                MappedMatrix matrix;
                try
                {
                    matrix = MappedMatrix.Open(path);
                }
                catch (InvalidDataException e)
                {
                    throw new SearchIndexException($"{store.DisplayName}: {e.Message}", e);
                }

                matrices.Add(matrix);
                var metadataPath = localRoot is not null ? Path.Combine(localRoot, part.Metadata) : await DownloadAsync(store, part.Metadata, temporary!, i, cancellationToken, ".jsonl");
                if (!File.Exists(metadataPath))
                {
                    throw new SearchIndexException($"{store.DisplayName}: metadata {part.Metadata} listed in index.json is missing; copy the index again or run tempme index again.");
                }

                var metadata = PartMetadata.Open(metadataPath, $"{store.DisplayName}/{part.Metadata}");
                rows.Add(metadata);
                if (matrix.Rows != part.Rows || metadata.Count != part.Rows || (matrix.Rows > 0 && matrix.Columns != manifest.EmbeddingSize))
                {
                    throw new SearchIndexException($"{store.DisplayName}: part {part.Embeddings} has {matrix.Rows}×{matrix.Columns} values and {metadata.Count} metadata rows, but index.json says {part.Rows}×{manifest.EmbeddingSize}; the index is inconsistent: run tempme index again.");
                }
            }

            return new SearchIndex(manifest, matrices, rows, temporary, store.DisplayName);
        }
        catch
        {
            matrices.ForEach(m => m.Dispose());
            rows.ForEach(r => r.Dispose());
            DeleteQuietly(temporary);
            throw;
        }
    }

    /// <summary>Reads and checks <c>index.json</c>.</summary>
    public static async Task<IndexManifest> ReadManifestAsync(IBlobStore store, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(store);
        Stream stream;
        try
        {
            stream = await store.OpenReadAsync(OutputLayout.IndexFile, cancellationToken);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            var started = await AnyAsync(store, OutputLayout.EmbeddingsFolder + "/", cancellationToken) || await AnyAsync(store, ".tempme/", cancellationToken);
            throw new SearchIndexException(started
                ? $"{store.DisplayName} has no index.json: the job that writes it has not finished (half-written); wait for it, or run tempme index again on the same --out to finish it."
                : $"{store.DisplayName} has no index.json: not an index folder; give the --out folder of tempme index or the output address of a finished job.", e);
        }

        IndexManifest? manifest;
        await using (stream)
        {
            try
            {
                manifest = await JsonSerializer.DeserializeAsync<IndexManifest>(stream, OutputJson.Options, cancellationToken);
            }
            catch (JsonException e)
            {
                throw new SearchIndexException($"{store.DisplayName}/index.json is not valid JSON ({e.Message}); the index is corrupt: run tempme index again.", e);
            }
        }

        if (manifest is null || manifest.Format != "tempme-index/1" || manifest.Parts is null || manifest.Model is null || manifest.Sampling is null || manifest.Counts is null)
        {
            throw new SearchIndexException($"{store.DisplayName}/index.json is not a tempme-index/1 manifest; give the output of tempme index or of a finished job.");
        }

        if (manifest.Counts.Pending > 0)
        {
            throw new SearchIndexException($"{store.DisplayName} is unfinished: {manifest.Counts.Pending} videos still pending; run tempme index again on the same --out (or wait for the job) before searching.");
        }

        if (manifest.EmbeddingSize <= 0)
        {
            throw new SearchIndexException($"{store.DisplayName}/index.json has embedding_size {manifest.EmbeddingSize}; the index is corrupt.");
        }

        return manifest;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _matrices.ForEach(m => m.Dispose());
        _rows.ForEach(r => r.Dispose());
        DeleteQuietly(_temporaryFolder);
    }

    private static bool IsSafeName(string name) =>
        !string.IsNullOrEmpty(name) && !Path.IsPathRooted(name) && !name.Split('/', '\\').Any(s => s is ".." or "");

    private static async Task<bool> AnyAsync(IBlobStore store, string prefix, CancellationToken cancellationToken)
    {
        try
        {
            await foreach (var unused in store.ListAsync(prefix, cancellationToken))
            {
                return true;
            }
        }
        catch (Exception e) when (e is DirectoryNotFoundException or FileNotFoundException)
        {
            return false;
        }

        return false;
    }

    private static async Task<string> DownloadAsync(IBlobStore store, string name, string folder, int index, CancellationToken cancellationToken, string extension = ".npy")
    {
        var path = Path.Combine(folder, $"part-{index}{extension}");
        try
        {
            await using var source = await store.OpenReadAsync(name, cancellationToken);
            await using var target = File.Create(path);
            await source.CopyToAsync(target, cancellationToken);
        }
        catch (FileNotFoundException)
        {
            return path + ".missing";
        }

        return path;
    }

    private static void DeleteQuietly(string? folder)
    {
        if (folder is null)
        {
            return;
        }

        try
        {
            Directory.Delete(folder, recursive: true);
        }
        catch (IOException)
        {
            // A temporary copy: the OS cleans /tmp.
        }
    }
}

using System.Collections.Concurrent;
using Microsoft.AspNetCore.Http;
using TempMe.Pipeline.Contracts;
using TempMe.Pipeline.Ledger;
using TempMe.Pipeline.Indexing.Output;
using TempMe.Pipeline.Search;
using TempMe.Pipeline.Storage;

namespace TempMe.Pipeline.Dashboard.Search;

/// <summary>
/// Answers text searches over finished indexes, for the silo and for <c>tempme index --dashboard</c>. Opening an index
/// (mapping or downloading its parts, loading the model) is done once per index version and kept; a changed
/// <c>index.json</c> (a retried job rewrote it) opens it again. Each request holds a use of the index it searches
/// (<see cref="SharedSearchIndex"/>); the replaced version is unmapped when its last request ends, never under one.
/// </summary>
internal sealed class IndexSearchService : IDisposable
{
    /// <summary>Environment variable naming a CLIP vocabulary for models that have none beside them (e.g. random:vit-b32).</summary>
    public const string VocabularyVariable = "TEMPME_CLIP_VOCAB";

    private readonly ConcurrentDictionary<string, Lazy<Task<OpenedSearch>>> _open = new(StringComparer.Ordinal);

    /// <summary>Searches the index in <paramref name="store"/> (local folder <paramref name="localRoot"/>, if any) with the index's model or <paramref name="model"/>.</summary>
    public async Task<IResult> SearchAsync(string key, IBlobStore store, string? localRoot, string? model, SearchRequest request, CancellationToken cancellationToken)
    {
        OpenedSearch opened;
        try
        {
            opened = await OpenAsync(key, store, localRoot, model, cancellationToken);
        }
        catch (SearchIndexException e)
        {
            return Results.Problem(title: "index not searchable", detail: SecretRedaction.Redact(e.Message), statusCode: StatusCodes.Status409Conflict);
        }

        try
        {
            var embedding = opened.Encoder.EncodeTexts([request.Query])[0];
            var hits = opened.Index.Index.Search(embedding, request.K, cancellationToken);
            return Results.Json(hits.Select(h => SearchResult.From(h, AddressSecrets.Redact(h.Metadata.Source))).ToList(), ApiJson.Options);
        }
        finally
        {
            opened.Index.Release();
        }
    }

    /// <summary>Opens the store of a local folder or blob address (with secrets) for searching.</summary>
    public static (IBlobStore Store, string? LocalRoot) OpenStore(string output)
    {
        var store = BlobStoreFactory.OpenFromEnvironment(output);
        return (store, store is LocalFolderStore local ? local.Root : null);
    }

    /// <summary>Opens (or reuses) the current version of the index and acquires it; the caller releases it.</summary>
    private async Task<OpenedSearch> OpenAsync(string key, IBlobStore store, string? localRoot, string? model, CancellationToken cancellationToken)
    {
        var properties = await store.GetPropertiesAsync(OutputLayout.IndexFile, cancellationToken);
        var version = properties is null ? "" : properties.ETag ?? properties.LastModified.UtcTicks.ToString(System.Globalization.CultureInfo.InvariantCulture);
        while (true)
        {
            var slot = _open.GetOrAdd(key, _ => new Lazy<Task<OpenedSearch>>(() => LoadAsync(store, localRoot, model, version)));
            OpenedSearch opened;
            try
            {
                opened = await slot.Value;
            }
            catch
            {
                // A failed open is not cached: the job may finish, or the model appear, before the next request.
                _open.TryRemove(new KeyValuePair<string, Lazy<Task<OpenedSearch>>>(key, slot));
                throw;
            }

            if (opened.Version != version)
            {
                // Retired, not disposed: requests still scanning the old mapping keep it until the last one releases it.
                if (_open.TryRemove(new KeyValuePair<string, Lazy<Task<OpenedSearch>>>(key, slot)))
                {
                    opened.Index.Retire();
                }

                continue;
            }

            if (opened.Index.TryAcquire())
            {
                return opened;
            }

            // Retired by a concurrent request (or by Dispose) after we found it: its slot is gone, open the current one.
        }
    }

    private static async Task<OpenedSearch> LoadAsync(IBlobStore store, string? localRoot, string? model, string version)
    {
        var index = await SearchIndex.OpenAsync(store, localRoot, CancellationToken.None);
        try
        {
            var encoder = SearchModel.Load(index.Manifest, model, Environment.GetEnvironmentVariable(VocabularyVariable), null, null);
            return new OpenedSearch(new SharedSearchIndex(index), encoder, version);
        }
        catch
        {
            index.Dispose();
            throw;
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var slot in _open.Values)
        {
            if (slot.IsValueCreated && slot.Value.IsCompletedSuccessfully)
            {
                slot.Value.Result.Index.Retire();
            }
        }

        _open.Clear();
    }
}

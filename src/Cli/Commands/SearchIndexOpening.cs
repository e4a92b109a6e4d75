using TempMe.Pipeline.Contracts;
using TempMe.Pipeline.Encoder;
using TempMe.Pipeline.Search;
using TempMe.Pipeline.Storage;

namespace TempMe.Pipeline.Cli.Commands;

/// <summary>What <c>search</c> and <c>eval</c> share: opening INDEX (folder or blob address), the model options, loading the query model.</summary>
internal static class SearchIndexOpening
{
    /// <summary>Opens INDEX: a local folder is mapped in place, an <c>az://</c> or <c>https://</c> address is downloaded first.</summary>
    public static async Task<SearchIndex> OpenAsync(string location, CancellationToken cancellationToken)
    {
        IBlobStore store;
        string? localRoot = null;
        if (location.Contains("://", StringComparison.Ordinal))
        {
            try
            {
                store = BlobStoreFactory.OpenFromEnvironment(location);
            }
            catch (ArgumentException e)
            {
                throw new UsageException($"INDEX {location}: {e.Message}");
            }
        }
        else
        {
            if (!Directory.Exists(location))
            {
                throw new UsageException($"INDEX {location} is not a folder; give the --out folder of tempme index or a blob address (az://…, https://…).");
            }

            localRoot = Path.GetFullPath(location);
            store = new LocalFolderStore(localRoot);
        }

        try
        {
            return await SearchIndex.OpenAsync(store, localRoot, cancellationToken);
        }
        catch (SearchIndexException e)
        {
            throw new UsageException(e.Message);
        }
        catch (BlobStorageException e)
        {
            throw new RunFailedException($"INDEX {location}: {e.Message}");
        }
    }

    /// <summary>Loads the index's model (or <paramref name="modelOverride"/>), printing its notices as notes on stderr.</summary>
    public static QueryEncoder LoadModel(SearchIndex index, string? modelOverride, string? vocabulary, QueryModelSettings settings)
    {
        var notices = new StringWriter();
        try
        {
            return SearchModel.Load(index.Manifest, modelOverride, vocabulary, settings, notices);
        }
        catch (SearchIndexException e)
        {
            throw new UsageException(e.Message);
        }
        finally
        {
            foreach (var line in notices.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                Console.Error.WriteLine($"note: {line}");
            }
        }
    }
}

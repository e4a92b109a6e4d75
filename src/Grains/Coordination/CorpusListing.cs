using System.Runtime.CompilerServices;
using TempMe.Pipeline.Contracts;
using TempMe.Pipeline.Ledger.Postgres;
using TempMe.Pipeline.Indexing.Sources;
using TempMe.Pipeline.Storage;

namespace TempMe.Pipeline.Grains.Coordination;

/// <summary>Lists a job's corpus: a local folder or list file, or a blob prefix, keeping video file extensions only.</summary>
public static class CorpusListing
{
    /// <summary>
    /// Lists <paramref name="source"/>: entries of a local folder or list file that lead outside <paramref name="roots"/>
    /// come back refused; a blob prefix is listed through the store its address names.
    /// </summary>
    public static async IAsyncEnumerable<SourceVideo> ListAsync(string source, AllowedRoots roots, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var address = BlobAddress.Parse(source);
        if (address.Kind == BlobAddressKind.LocalFolder)
        {
            foreach (var video in LocalSourceLister.List(address.LocalPath!, allowedRoots: roots))
            {
                yield return video;
            }

            yield break;
        }

        var store = BlobStoreFactory.OpenFromEnvironment(source);
        await foreach (var item in store.ListAsync("", cancellationToken))
        {
            if (LocalSourceLister.VideoExtensions.Contains(Path.GetExtension(item.Name)))
            {
                yield return new SourceVideo(JobSources.VideoSource(store, item.Name), item.Size, item.LastModified);
            }
        }
    }

    /// <summary>Errors that listing again cannot cure: the job fails at once.</summary>
    public static bool IsPermanent(Exception e) =>
        e is ArgumentException or FileNotFoundException or DirectoryNotFoundException or UnauthorizedAccessException
            or BlobStorageException { IsTransient: false };

    /// <summary>An address fit for logs and messages: no SAS or key.</summary>
    public static string Display(string address)
    {
        try
        {
            return BlobAddress.Parse(address).ToString();
        }
        catch (ArgumentException)
        {
            return "(invalid address)";
        }
    }
}

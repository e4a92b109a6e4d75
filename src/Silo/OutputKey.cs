using TempMe.Pipeline.Storage;

namespace TempMe.Pipeline.Silo;

/// <summary>
/// A job's output as one comparable string ending in '/', whatever its spelling (az:// or URL, trailing slash, SAS or not),
/// so the ledger can tell when two outputs are the same place or one lies inside the other.
/// </summary>
internal static class OutputKey
{
    /// <summary>The key of a validated output address.</summary>
    public static string Of(string output)
    {
        string root;
        try
        {
            var store = BlobStoreFactory.OpenFromEnvironment(output);
            root = (store is LocalFolderStore ? "local:" : "blob:") + store.DisplayName;
        }
        catch (ArgumentException)
        {
            root = "raw:" + output;
        }

        return root.TrimEnd('/') + "/";
    }
}

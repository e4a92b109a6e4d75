using TempMe.Pipeline.Contracts;

namespace TempMe.Pipeline.Ledger.Postgres;

/// <summary>
/// How a blob listed under a job's source is named in the ledger and the output: the source store's display root
/// (never carrying a SAS or key) followed by the blob's name. Workers map the name back to the blob with
/// <see cref="RelativeName"/>.
/// </summary>
public static class JobSources
{
    /// <summary>The ledger name of blob <paramref name="name"/> under <paramref name="root"/>.</summary>
    public static string VideoSource(IBlobStore root, string name)
    {
        ArgumentNullException.ThrowIfNull(root);
        return root.DisplayName.TrimEnd('/') + "/" + name;
    }

    /// <summary>The blob name under <paramref name="root"/> of a ledger name made by <see cref="VideoSource"/>; null when it is not under that root.</summary>
    public static string? RelativeName(IBlobStore root, string source)
    {
        ArgumentNullException.ThrowIfNull(root);
        ArgumentNullException.ThrowIfNull(source);
        var prefix = root.DisplayName.TrimEnd('/') + "/";
        return source.StartsWith(prefix, StringComparison.Ordinal) ? source[prefix.Length..] : null;
    }
}

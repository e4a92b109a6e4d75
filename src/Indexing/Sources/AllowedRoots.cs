using TempMe.Pipeline.Contracts;

namespace TempMe.Pipeline.Indexing.Sources;

/// <summary>
/// The local folders a silo may read and write (<c>--allowed-roots</c>), by their real paths, so that a symbolic link
/// inside a root cannot lead out of it and a link used as a root is judged by where it points.
/// </summary>
public sealed class AllowedRoots
{
    /// <summary>Resolves each root to its real path.</summary>
    public AllowedRoots(IEnumerable<string> roots)
    {
        ArgumentNullException.ThrowIfNull(roots);
        Paths = roots.Select(RealPath.Of).Distinct(StringComparer.Ordinal).ToArray();
    }

    /// <summary>The roots' real paths.</summary>
    public IReadOnlyList<string> Paths { get; }

    /// <summary>The roots for messages.</summary>
    public string Display => string.Join(", ", Paths);

    /// <summary>Whether the real path <paramref name="realPath"/> is a root or lies below one.</summary>
    public bool ContainsRealPath(string realPath) =>
        Paths.Any(root => RealPath.IsUnder(realPath, root));

    /// <summary>Whether <paramref name="path"/>, once every link in it is resolved, is a root or lies below one.</summary>
    public bool Contains(string path)
    {
        try
        {
            return ContainsRealPath(RealPath.Of(path));
        }
        catch (IOException)
        {
            return false; // A link loop leads nowhere inside.
        }
    }
}

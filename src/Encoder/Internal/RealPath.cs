namespace TempMe.Pipeline.Encoder.Internal;

/// <summary>
/// Resolves every symbolic link in a path, component by component, like realpath(3), so that a check against allowed
/// folders sees where a path really leads (a link inside a root may point anywhere).
/// </summary>
internal static class RealPath
{
    // Linux's own limit on links followed in one lookup (MAXSYMLINKS); more means a loop.
    private const int MaxLinks = 40;

    /// <summary>The absolute path with no links left, or null when a component does not exist or the links loop.</summary>
    public static string? Resolve(string path)
    {
        // Not Path.GetFullPath: it folds "link/.." lexically, while the file system goes to the link's target first.
        var full = Path.IsPathFullyQualified(path) ? path : Path.Join(Environment.CurrentDirectory, path);
        var root = Path.GetPathRoot(full)!;
        var resolved = root;
        var pending = new LinkedList<string>(Split(full[root.Length..]));
        var links = 0;
        while (pending.First is { } first)
        {
            pending.RemoveFirst();
            var part = first.Value;
            if (part == ".")
            {
                continue;
            }

            if (part == "..")
            {
                resolved = Path.GetDirectoryName(resolved) ?? root;
                continue;
            }

            var next = Path.Join(resolved, part);
            if (!File.Exists(next) && !Directory.Exists(next))
            {
                return null;
            }

            if (new FileInfo(next).LinkTarget is not { } target)
            {
                resolved = next;
                continue;
            }

            if (++links > MaxLinks)
            {
                return null;
            }

            // The target's components come next; a relative target is relative to the link's folder (resolved).
            if (Path.IsPathRooted(target))
            {
                resolved = Path.GetPathRoot(target)!;
                target = target[resolved.Length..];
            }

            foreach (var t in Split(target).Reverse())
            {
                pending.AddFirst(t);
            }
        }

        return resolved;
    }

    /// <summary>Whether <paramref name="path"/> is <paramref name="folder"/> or lies under it (both absolute, no trailing separator but the root's).</summary>
    public static bool IsUnder(string path, string folder)
    {
        var prefix = Path.EndsInDirectorySeparator(folder) ? folder : folder + Path.DirectorySeparatorChar;
        return string.Equals(path, folder, StringComparison.Ordinal) || path.StartsWith(prefix, StringComparison.Ordinal);
    }

    private static string[] Split(string path) =>
        path.Split([Path.DirectorySeparatorChar, Path.AltDirectorySeparatorChar], StringSplitOptions.RemoveEmptyEntries);
}

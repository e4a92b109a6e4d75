namespace TempMe.Pipeline.Contracts;

/// <summary>
/// The real path of a file or folder, like <c>realpath(3)</c>: every symbolic link in it resolved, <c>.</c> and <c>..</c>
/// applied after resolution. Components that do not exist (yet) are kept as written, so an output folder still to be
/// created has a real path too.
/// </summary>
public static class RealPath
{
    /// <summary>Links followed before giving up, as the kernel's own limit (ELOOP).</summary>
    private const int MaxLinks = 40;

    /// <summary>Resolves <paramref name="path"/> (relative to the current folder); throws <see cref="IOException"/> on a link loop.</summary>
    public static string Of(string path)
    {
        // Not Path.GetFullPath: it applies ".." before links are resolved, which is not what the kernel opens.
        var full = Path.IsPathRooted(path) ? path : Path.Join(Environment.CurrentDirectory, path);
        var root = Path.GetPathRoot(full)!;
        var pending = new Stack<string>();
        PushComponents(pending, full[root.Length..]);
        var current = root;
        var links = 0;
        var exists = true;
        while (pending.TryPop(out var name))
        {
            if (name == ".")
            {
                continue;
            }

            if (name == "..")
            {
                current = Path.GetDirectoryName(current) ?? root;
                continue;
            }

            var next = Path.Join(current, name);
            var target = exists ? LinkTarget(next) : null;
            if (target is null)
            {
                exists = exists && (File.Exists(next) || Directory.Exists(next));
                current = next;
                continue;
            }

            if (++links > MaxLinks)
            {
                throw new IOException($"{path} has more than {MaxLinks} symbolic links in a row (a link loop).");
            }

            // A relative target is relative to the link's folder, which is the real `current`.
            if (Path.IsPathRooted(target))
            {
                current = Path.GetPathRoot(target)!;
                target = target[current.Length..];
            }

            PushComponents(pending, target);
        }

        return Path.TrimEndingDirectorySeparator(current);
    }

    /// <summary>The real path of something that exists; null when a component is missing or the links loop.</summary>
    public static string? OfExisting(string path)
    {
        try
        {
            var real = Of(path);
            return File.Exists(real) || Directory.Exists(real) ? real : null;
        }
        catch (IOException)
        {
            return null;
        }
    }

    /// <summary>Whether <paramref name="path"/> is <paramref name="folder"/> or lies under it (both absolute real paths).</summary>
    public static bool IsUnder(string path, string folder)
    {
        var prefix = Path.EndsInDirectorySeparator(folder) ? folder : folder + Path.DirectorySeparatorChar;
        return string.Equals(path, folder, StringComparison.Ordinal) || path.StartsWith(prefix, StringComparison.Ordinal);
    }

    private static string? LinkTarget(string path)
    {
        try
        {
            return new FileInfo(path).LinkTarget;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Unreadable: nothing below it can be opened by this process either.
            return null;
        }
    }

    private static void PushComponents(Stack<string> pending, string relative)
    {
        var parts = relative.Split(Path.DirectorySeparatorChar, StringSplitOptions.RemoveEmptyEntries);
        for (var i = parts.Length - 1; i >= 0; i--)
        {
            pending.Push(parts[i]);
        }
    }
}

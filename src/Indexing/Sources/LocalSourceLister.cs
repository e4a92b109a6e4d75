using TempMe.Pipeline.Contracts;

namespace TempMe.Pipeline.Indexing.Sources;

/// <summary>Lists the videos of a local folder (recursively) or of a text file that names one path per line.</summary>
public static class LocalSourceLister
{
    private static readonly EnumerationOptions OneLevel = new() { RecurseSubdirectories = false, IgnoreInaccessible = true, AttributesToSkip = FileAttributes.None };

    /// <summary>File extensions taken as videos, compared case-insensitively.</summary>
    public static IReadOnlySet<string> VideoExtensions { get; } = new HashSet<string>(StringComparer.OrdinalIgnoreCase)
    {
        ".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".wmv", ".flv", ".3gp", ".ts",
    };

    /// <summary>
    /// Lists <paramref name="source"/>: a folder gives every video file below it; a text file gives the paths it lists
    /// (blank lines and lines starting with '#' ignored; relative paths are relative to the list's folder).
    /// Paths are absolute and sorted ordinally. A listed path that does not exist is still returned (size -1), so it
    /// becomes a <c>not_found</c> failure instead of vanishing silently. Linked folders are followed once each; a link
    /// back to a folder above it (a loop) is skipped.
    /// <para>
    /// With <paramref name="allowedRoots"/> (the silo), every entry is judged by its real path: one outside the roots
    /// (a listed path, a file link or a folder link leading out) comes back with a <see cref="SourceVideo.Refusal"/>
    /// and is never looked into, and the entries inside are returned by their real paths, so that the file a worker
    /// opens is the one that was checked. The source itself outside the roots throws <see cref="UnauthorizedAccessException"/>.
    /// </para>
    /// </summary>
    public static IReadOnlyList<SourceVideo> List(string source, string? excludeFolder = null, AllowedRoots? allowedRoots = null)
    {
        var full = Path.GetFullPath(source);
        var real = RealPath.Of(full);
        if (allowedRoots is not null && !allowedRoots.ContainsRealPath(real))
        {
            throw new UnauthorizedAccessException($"The source {source} lies outside the allowed roots ({allowedRoots.Display}) once its links are resolved: move it under a root or start the silo with that root in --allowed-roots.");
        }

        var videos = new List<SourceVideo>();
        if (Directory.Exists(real))
        {
            var exclude = excludeFolder is null ? null : Path.GetFullPath(excludeFolder).TrimEnd(Path.DirectorySeparatorChar) + Path.DirectorySeparatorChar;
            Walk(full, real, exclude, allowedRoots, videos);
        }
        else if (File.Exists(real))
        {
            var baseDir = Path.GetDirectoryName(full)!;
            foreach (var line in File.ReadLines(real))
            {
                var entry = line.Trim();
                if (entry.Length > 0 && !entry.StartsWith('#'))
                {
                    videos.Add(ListedFile(Path.GetFullPath(entry, baseDir), allowedRoots));
                }
            }
        }
        else
        {
            throw new FileNotFoundException($"The source {source} does not exist: give a folder of videos or a text file listing video paths.", source);
        }

        return videos.DistinctBy(v => v.Source, StringComparer.Ordinal).OrderBy(v => v.Source, StringComparer.Ordinal).ToList();
    }

    /// <summary>Depth-first walk by real folder paths, so each folder is entered once whatever links lead to it.</summary>
    private static void Walk(string listedRoot, string realRoot, string? exclude, AllowedRoots? roots, List<SourceVideo> videos)
    {
        var visited = new HashSet<string>(StringComparer.Ordinal) { realRoot };
        var pending = new Stack<(string Listed, string Real)>();
        pending.Push((listedRoot, realRoot));
        while (pending.TryPop(out var folder))
        {
            FileSystemInfo[] entries;
            try
            {
                entries = new DirectoryInfo(folder.Real).GetFileSystemInfos("*", OneLevel);
            }
            catch (Exception e) when (folder.Real != realRoot && e is IOException or UnauthorizedAccessException)
            {
                continue; // Unreadable or vanished below the root: skipped, like inaccessible folders always were.
            }

            foreach (var entry in entries)
            {
                var listed = Path.Join(folder.Listed, entry.Name);
                if (exclude is not null && (listed + Path.DirectorySeparatorChar).StartsWith(exclude, StringComparison.Ordinal))
                {
                    continue;
                }

                var isLink = entry.Attributes.HasFlag(FileAttributes.ReparsePoint);
                var real = Path.Join(folder.Real, entry.Name);
                if (isLink)
                {
                    try
                    {
                        real = RealPath.Of(real);
                    }
                    catch (IOException)
                    {
                        continue; // A loop of links names nothing.
                    }
                }

                var isFolder = isLink ? Directory.Exists(real) : entry is DirectoryInfo;
                if (!isFolder && !IsVideo(listed))
                {
                    continue;
                }

                if (roots is not null && !roots.ContainsRealPath(real))
                {
                    videos.Add(Refused(listed, isFolder ? "a link to a folder" : "a link"));
                }
                else if (isFolder)
                {
                    if (!IsSameOrBelow(folder.Real, real) && visited.Add(real))
                    {
                        pending.Push((listed, real));
                    }
                }
                else
                {
                    videos.Add(Describe(roots is null ? listed : real, real));
                }
            }
        }
    }

    private static SourceVideo ListedFile(string path, AllowedRoots? roots)
    {
        if (roots is null)
        {
            return Describe(path, path);
        }

        string real;
        try
        {
            real = RealPath.Of(path);
        }
        catch (IOException)
        {
            return Refused(path, "a path");
        }

        return roots.ContainsRealPath(real) ? Describe(real, real) : Refused(path, "a path");
    }

    private static bool IsVideo(string path) => VideoExtensions.Contains(Path.GetExtension(path));

    /// <summary>Whether <paramref name="folder"/> is <paramref name="candidate"/> or lies below it: following the link would loop.</summary>
    private static bool IsSameOrBelow(string folder, string candidate) =>
        folder == candidate || folder.StartsWith(candidate.EndsWith(Path.DirectorySeparatorChar) ? candidate : candidate + Path.DirectorySeparatorChar, StringComparison.Ordinal);

    /// <summary>Never looks at the entry: its size or existence outside the roots is not the submitter's business.</summary>
    private static SourceVideo Refused(string listed, string what) => new(listed, -1, DateTimeOffset.UnixEpoch)
    {
        Refusal = new SourceRefusal(
            ErrorCodes.OutsideAllowedRoots,
            $"{listed} is {what} that leads outside the silo's --allowed-roots; it was not opened. Move the video under an allowed root (a copy, not a link) or add its folder to --allowed-roots."),
    };

    private static SourceVideo Describe(string source, string real)
    {
        var info = new FileInfo(real);
        return info.Exists
            ? new SourceVideo(source, info.Length, new DateTimeOffset(info.LastWriteTimeUtc, TimeSpan.Zero))
            : new SourceVideo(source, -1, DateTimeOffset.UnixEpoch);
    }
}

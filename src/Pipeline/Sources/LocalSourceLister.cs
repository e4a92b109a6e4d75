using TempMe.Pipeline.Contracts;

namespace TempMe.Pipeline.Pipeline.Sources;

/// <summary>Lists the videos of a local folder (recursively) or of a text file that names one path per line.</summary>
public static class LocalSourceLister
{
    /// <summary>File extensions taken as videos, compared case-insensitively.</summary>
    public static IReadOnlySet<string> VideoExtensions { get; } = new HashSet<string>(StringComparer.OrdinalIgnoreCase)
    {
        ".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".wmv", ".flv", ".3gp", ".ts",
    };

    /// <summary>
    /// Lists <paramref name="source"/>: a folder gives every video file below it; a text file gives the paths it lists
    /// (blank lines and lines starting with '#' ignored; relative paths are relative to the list's folder).
    /// Paths are absolute and sorted ordinally. A listed path that does not exist is still returned (size -1), so it
    /// becomes a <c>not_found</c> failure instead of vanishing silently.
    /// </summary>
    public static IReadOnlyList<SourceVideo> List(string source, string? excludeFolder = null)
    {
        var full = Path.GetFullPath(source);
        IEnumerable<string> paths;
        if (Directory.Exists(full))
        {
            var exclude = excludeFolder is null ? null : Path.GetFullPath(excludeFolder).TrimEnd(Path.DirectorySeparatorChar) + Path.DirectorySeparatorChar;
            paths = Directory.EnumerateFiles(full, "*", new EnumerationOptions { RecurseSubdirectories = true, IgnoreInaccessible = true, AttributesToSkip = FileAttributes.None })
                .Where(p => VideoExtensions.Contains(Path.GetExtension(p)))
                .Where(p => exclude is null || !p.StartsWith(exclude, StringComparison.Ordinal));
        }
        else if (File.Exists(full))
        {
            var baseDir = Path.GetDirectoryName(full)!;
            paths = File.ReadLines(full)
                .Select(line => line.Trim())
                .Where(line => line.Length > 0 && !line.StartsWith('#'))
                .Select(line => Path.GetFullPath(line, baseDir));
        }
        else
        {
            throw new FileNotFoundException($"The source {source} does not exist: give a folder of videos or a text file listing video paths.", source);
        }

        return paths.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).Select(Describe).ToList();
    }

    private static SourceVideo Describe(string path)
    {
        var info = new FileInfo(path);
        return info.Exists
            ? new SourceVideo(path, info.Length, new DateTimeOffset(info.LastWriteTimeUtc, TimeSpan.Zero))
            : new SourceVideo(path, -1, DateTimeOffset.UnixEpoch);
    }
}

namespace TempMe.Pipeline.Search;

/// <summary>How captions files and <c>--like</c> name indexed videos: by full source, file name, or file name without extension.</summary>
public static class SourceNames
{
    /// <summary>The file name of a path or blob address (after the last '/' or '\', query string dropped).</summary>
    public static string FileName(string source)
    {
        ArgumentNullException.ThrowIfNull(source);
        var query = source.IndexOf('?', StringComparison.Ordinal);
        var path = query >= 0 && source.Contains("://", StringComparison.Ordinal) ? source[..query] : source;
        var slash = path.LastIndexOfAny(['/', '\\']);
        return slash >= 0 ? path[(slash + 1)..] : path;
    }

    /// <summary>The file name without its extension: the MSR-VTT <c>video_id</c> of <c>video7010.mp4</c> is <c>video7010</c>.</summary>
    public static string Id(string source)
    {
        var name = FileName(source);
        var dot = name.LastIndexOf('.');
        return dot > 0 ? name[..dot] : name;
    }

    /// <summary>Whether <paramref name="name"/> names <paramref name="source"/>: equal, or its file name, or its id.</summary>
    public static bool Matches(string source, string name) =>
        source == name || FileName(source) == name || Id(source) == name || source.EndsWith("/" + name, StringComparison.Ordinal);
}

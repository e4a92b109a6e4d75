namespace TempMe.Pipeline.Search;

/// <summary>One ground-truth caption: the video it describes (an id or file name) and the text.</summary>
/// <param name="Video">Video id as written in the captions file.</param>
/// <param name="Caption">The sentence.</param>
/// <param name="Line">1-based line in the file, for messages.</param>
public sealed record CaptionEntry(string Video, string Caption, int Line);

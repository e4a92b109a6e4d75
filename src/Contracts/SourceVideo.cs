namespace TempMe.Pipeline.Contracts;

/// <summary>One video found while listing a source: a local path or a blob address.</summary>
/// <param name="Source">The video's path or address, as written to the output.</param>
/// <param name="Size">Length in bytes at listing time.</param>
/// <param name="ModifiedUtc">Last modification time at listing time; with <paramref name="Size"/> it tells a changed file.</param>
public sealed record SourceVideo(string Source, long Size, DateTimeOffset ModifiedUtc);

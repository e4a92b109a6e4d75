namespace TempMe.Pipeline.Contracts;

/// <summary>One video found while listing a source: a local path or a blob address.</summary>
/// <param name="Source">The video's path or address, as written to the output.</param>
/// <param name="Size">Length in bytes at listing time.</param>
/// <param name="ModifiedUtc">Last modification time at listing time; with <paramref name="Size"/> it tells a changed file.</param>
public sealed record SourceVideo(string Source, long Size, DateTimeOffset ModifiedUtc)
{
    /// <summary>Why this entry must not be processed (it is recorded as failed at once and never opened); null for a video to process.</summary>
    public SourceRefusal? Refusal { get; init; }
}

/// <summary>A listed entry refused before processing, for example one outside the silo's allowed roots.</summary>
/// <param name="ErrorCode">The stable code (see <see cref="ErrorCodes"/>).</param>
/// <param name="Message">What was refused and how to fix it.</param>
public sealed record SourceRefusal(string ErrorCode, string Message);

namespace TempMe.Pipeline.Search;

/// <summary>The outcome of <c>tempme eval</c>: both directions, and what was matched and left out.</summary>
/// <param name="TextToVideo">Text-to-video metrics.</param>
/// <param name="VideoToText">Video-to-text metrics.</param>
/// <param name="Videos">Indexed videos with at least one caption (the gallery).</param>
/// <param name="Captions">Captions evaluated.</param>
/// <param name="Unmatched">Video names in the captions file that are not in the index.</param>
public sealed record EvaluationReport(RetrievalMetrics TextToVideo, RetrievalMetrics VideoToText, int Videos, int Captions, IReadOnlyList<string> Unmatched);

using System.Globalization;

namespace TempMe.Pipeline.Indexing.Output;

/// <summary>The names of everything an index writes under its output root. Deterministic, so redoing work overwrites instead of duplicating.</summary>
public static class OutputLayout
{
    /// <summary>Folder of the part files.</summary>
    public const string EmbeddingsFolder = "embeddings";

    /// <summary>The index manifest.</summary>
    public const string IndexFile = "index.json";

    /// <summary>One line per failed video.</summary>
    public const string FailuresFile = "failures.jsonl";

    /// <summary>The base name (no extension) of part <paramref name="partNumber"/>.</summary>
    public static string PartName(int partNumber) => string.Create(CultureInfo.InvariantCulture, $"{EmbeddingsFolder}/part-{partNumber:D5}");
}

using System.Text.Encodings.Web;
using System.Text.Json;

namespace TempMe.Pipeline.Indexing.Output;

/// <summary>JSON settings for everything the index writes: stable, compact, non-ASCII paths kept readable.</summary>
public static class OutputJson
{
    /// <summary>One line per object.</summary>
    public static JsonSerializerOptions Options { get; } = new()
    {
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.Never,
    };

    /// <summary>Indented, for index.json.</summary>
    public static JsonSerializerOptions Indented { get; } = new(Options) { WriteIndented = true };
}

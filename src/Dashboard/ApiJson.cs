using System.Text.Json;
using System.Text.Json.Serialization;

namespace TempMe.Pipeline.Dashboard;

/// <summary>JSON settings of API answers.</summary>
internal static class ApiJson
{
    /// <summary>camelCase, nulls left out.</summary>
    public static JsonSerializerOptions Options { get; } = new(JsonSerializerDefaults.Web) { DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull };
}

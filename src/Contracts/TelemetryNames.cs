namespace TempMe.Pipeline.Contracts;

/// <summary>
/// Names every host and the pipeline agree on for telemetry. Here rather than beside the instruments so a host can
/// export the meter without referencing the indexing project.
/// </summary>
public static class TelemetryNames
{
    /// <summary>Name of the meter every TempMe instrument belongs to.</summary>
    public const string MeterName = "TempMe.Pipeline";
}

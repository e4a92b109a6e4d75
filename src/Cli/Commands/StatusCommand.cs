using System.CommandLine;

namespace TempMe.Pipeline.Cli.Commands;

/// <summary>The <c>tempme status</c> command (being built).</summary>
internal static class StatusCommand
{
    /// <summary>Creates the command.</summary>
    public static Command Create() => new("status", "Not available yet.");
}

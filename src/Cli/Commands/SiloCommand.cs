using System.CommandLine;

namespace TempMe.Pipeline.Cli.Commands;

/// <summary>The <c>tempme silo</c> command (being built).</summary>
internal static class SiloCommand
{
    /// <summary>Creates the command.</summary>
    public static Command Create() => new("silo", "Not available yet.");
}

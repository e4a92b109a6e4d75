using System.CommandLine;

namespace TempMe.Pipeline.Cli.Commands;

/// <summary>The <c>tempme submit</c> command (being built).</summary>
internal static class SubmitCommand
{
    /// <summary>Creates the command.</summary>
    public static Command Create() => new("submit", "Not available yet.");
}

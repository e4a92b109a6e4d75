using System.CommandLine;

namespace TempMe.Pipeline.Cli.Commands;

/// <summary>The <c>tempme worker</c> command (being built).</summary>
internal static class WorkerCommand
{
    /// <summary>Creates the command.</summary>
    public static Command Create() => new("worker", "Not available yet.");
}

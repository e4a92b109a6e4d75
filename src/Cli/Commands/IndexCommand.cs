using System.CommandLine;

namespace TempMe.Pipeline.Cli.Commands;

/// <summary>The <c>tempme index</c> command (being built).</summary>
internal static class IndexCommand
{
    /// <summary>Creates the command.</summary>
    public static Command Create() => new("index", "Not available yet.");
}

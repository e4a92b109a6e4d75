using System.CommandLine;

namespace TempMe.Pipeline.Cli.Commands;

/// <summary>The <c>tempme bench-decode</c> command (being built).</summary>
internal static class BenchDecodeCommand
{
    /// <summary>Creates the command.</summary>
    public static Command Create() => new("bench-decode", "Not available yet.");
}

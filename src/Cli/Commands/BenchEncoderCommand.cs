using System.CommandLine;

namespace TempMe.Pipeline.Cli.Commands;

/// <summary>The <c>tempme bench-encoder</c> command (being built).</summary>
internal static class BenchEncoderCommand
{
    /// <summary>Creates the command.</summary>
    public static Command Create() => new("bench-encoder", "Not available yet.");
}

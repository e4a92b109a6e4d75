using System.CommandLine;

namespace TempMe.Pipeline.Cli.Commands;

/// <summary>The <c>tempme frames</c> command (being built).</summary>
internal static class FramesCommand
{
    /// <summary>Creates the command.</summary>
    public static Command Create() => new("frames", "Not available yet.");
}

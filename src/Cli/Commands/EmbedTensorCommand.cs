using System.CommandLine;

namespace TempMe.Pipeline.Cli.Commands;

/// <summary>The <c>tempme embed-tensor</c> command (being built).</summary>
internal static class EmbedTensorCommand
{
    /// <summary>Creates the command.</summary>
    public static Command Create() => new("embed-tensor", "Not available yet.");
}

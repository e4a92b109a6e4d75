using System.CommandLine;

namespace TempMe.Pipeline.Cli.Commands;

/// <summary>Every subcommand of <c>tempme</c>, one file per command in this folder.</summary>
internal static class CommandCatalog
{
    /// <summary>Creates the subcommands in the order help lists them.</summary>
    public static IEnumerable<Command> All()
    {
        yield return IndexCommand.Create();
        yield return SearchCommand.Create();
        yield return EvalCommand.Create();
        yield return FramesCommand.Create();
        yield return EmbedTensorCommand.Create();
        yield return ConvertCheckpointCommand.Create();
        yield return BenchEncoderCommand.Create();
        yield return SubmitCommand.Create();
        yield return StatusCommand.Create();
        yield return SiloCommand.Create();
        yield return WorkerCommand.Create();
        yield return BenchDecodeCommand.Create();
        yield return BenchIndexCommand.Create();
        yield return BenchLedgerCommand.Create();
        yield return BenchSearchCommand.Create();
    }
}

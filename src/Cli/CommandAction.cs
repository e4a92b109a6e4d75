using System.CommandLine;

namespace TempMe.Pipeline.Cli;

/// <summary>Wraps command bodies so that every user-facing failure ends in a clear message and a documented exit code.</summary>
internal static class CommandAction
{
    /// <summary>Sets <paramref name="body"/> as the action of <paramref name="command"/>.</summary>
    public static void Set(Command command, Func<ParseResult, CancellationToken, Task<int>> body)
    {
        command.SetAction(async (parseResult, cancellationToken) =>
        {
            try
            {
                return await body(parseResult, cancellationToken);
            }
            catch (UsageException e)
            {
                await Console.Error.WriteLineAsync($"error: {e.Message}");
                return ExitCodes.BadArguments;
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                await Console.Error.WriteLineAsync("interrupted: work finished so far is kept; run the same command again to continue.");
                return ExitCodes.Interrupted;
            }
        });
    }
}

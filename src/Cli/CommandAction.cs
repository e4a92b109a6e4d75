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
            catch (RunFailedException e)
            {
                await Console.Error.WriteLineAsync($"error: {e.Message}");
                return ExitCodes.Failure;
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                await Console.Error.WriteLineAsync("interrupted: work finished so far is kept; run the same command again to continue.");
                return ExitCodes.Interrupted;
            }
            catch (Exception e) when (cancellationToken.IsCancellationRequested && e is not OutOfMemoryException)
            {
                // Stopping raced with a failure: still a clean interruption, never a crash with a stack trace.
                await Console.Error.WriteLineAsync($"interrupted: work finished so far is kept; run the same command again to continue (while stopping: {e.GetType().Name}: {e.Message}).");
                return ExitCodes.Interrupted;
            }
        });
    }
}

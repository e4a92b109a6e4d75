namespace TempMe.Pipeline.Cli;

/// <summary>
/// The command started but could not finish (a full disk, an unwritable output). The message names the problem, the
/// path and the fix; the command exits with <see cref="ExitCodes.Failure"/> and prints no stack trace.
/// </summary>
internal sealed class RunFailedException(string message) : Exception(message);

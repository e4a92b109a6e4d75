namespace TempMe.Pipeline.Cli;

/// <summary>
/// Bad input that the user can fix. The message names the problem and the fix; the command exits with
/// <see cref="ExitCodes.BadArguments"/> and prints no stack trace.
/// </summary>
internal sealed class UsageException(string message) : Exception(message);

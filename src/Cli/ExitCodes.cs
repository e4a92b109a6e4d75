namespace TempMe.Pipeline.Cli;

/// <summary>Process exit codes of the <c>tempme</c> command. Scripts depend on them: never renumber.</summary>
internal static class ExitCodes
{
    /// <summary>Everything asked for was done.</summary>
    public const int Ok = 0;

    /// <summary>The command ran but failed (a runtime error, or failed videos with <c>--fail-on-error</c>).</summary>
    public const int Failure = 1;

    /// <summary>Bad arguments or bad input files: nothing was done.</summary>
    public const int BadArguments = 2;

    /// <summary>The single video asked about could not be processed.</summary>
    public const int VideoFailed = 3;

    /// <summary>Interrupted by Ctrl-C or SIGTERM; work done so far is kept.</summary>
    public const int Interrupted = 130;
}

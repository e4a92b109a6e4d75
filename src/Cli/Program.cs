using System.CommandLine;
using System.Runtime.InteropServices;
using TempMe.Pipeline.Cli;
using TempMe.Pipeline.Cli.Commands;

var root = new RootCommand("tempme: turn video corpora into TempMe video embeddings.");
foreach (var command in CommandCatalog.All())
{
    root.Subcommands.Add(command);
}

var parseResult = root.Parse(args);
if (parseResult.Errors.Count > 0)
{
    foreach (var error in parseResult.Errors)
    {
        Console.Error.WriteLine($"error: {error.Message}");
    }

    Console.Error.WriteLine("Run 'tempme --help' or 'tempme <command> --help' for usage.");
    return ExitCodes.BadArguments;
}

// The first Ctrl-C or SIGTERM asks the command to stop cleanly (hand back work, write what is done);
// a second one terminates at once. System.CommandLine's own termination handling hung the process on SIGTERM
// after the action had returned, so it is switched off.
using var shutdown = new CancellationTokenSource();
void OnSignal(PosixSignalContext context)
{
    if (!shutdown.IsCancellationRequested)
    {
        context.Cancel = true;
        shutdown.Cancel();
    }
}

using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
return await parseResult.InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = null }, shutdown.Token);

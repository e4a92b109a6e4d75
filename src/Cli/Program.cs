using System.CommandLine;
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

return await parseResult.InvokeAsync();

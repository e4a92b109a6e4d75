using System.CommandLine;
using TempMe.Pipeline.Encoder;

namespace TempMe.Pipeline.Cli.Commands;

/// <summary>The <c>tempme convert-checkpoint IN OUT.safetensors</c> command: a PyTorch checkpoint's tensors as safetensors.</summary>
internal static class ConvertCheckpointCommand
{
    /// <summary>Creates the command.</summary>
    public static Command Create()
    {
        var input = new Argument<string>("IN") { Description = "Checkpoint: a .pt/.pth/.bin (zip torch.save or TorchScript), a .safetensors, or a folder holding one." };
        var output = new Argument<string>("OUT") { Description = "The .safetensors file to write (same tensor names, shapes and dtypes)." };
        var command = new Command("convert-checkpoint", "Write a PyTorch checkpoint's tensors as a safetensors file.");
        command.Arguments.Add(input);
        command.Arguments.Add(output);
        CommandAction.Set(command, (parse, ct) =>
        {
            var count = EncoderOptionsParsing.Load(() => CheckpointConverter.Convert(parse.GetValue(input)!, parse.GetValue(output)!));
            Console.Error.WriteLine($"wrote {count} tensors to {parse.GetValue(output)}");
            return Task.FromResult(ExitCodes.Ok);
        });

        return command;
    }
}

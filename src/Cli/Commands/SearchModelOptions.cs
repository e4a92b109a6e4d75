using System.CommandLine;
using TempMe.Pipeline.Encoder;

namespace TempMe.Pipeline.Cli.Commands;

/// <summary>The model options of <c>search</c> and <c>eval</c>: which model, which vocabulary, and settings for indexes made with non-default ones.</summary>
internal sealed class SearchModelOptions
{
    /// <summary>The model, when the one recorded in index.json is not on this machine.</summary>
    public Option<string?> Model { get; } = new("--model") { Description = "The index's model, when the path recorded in index.json is not on this machine (a model with another fingerprint is refused)." };

    /// <summary>The CLIP vocabulary.</summary>
    public Option<string?> Vocab { get; } = new("--vocab") { Description = "CLIP vocabulary (folder or file); default: beside the model." };

    /// <summary>Visual heads.</summary>
    public Option<int?> VisionHeads { get; } = new("--vision-heads") { Description = "Visual attention heads the index was made with (default width/64)." };

    /// <summary>Text heads.</summary>
    public Option<int?> TextHeads { get; } = new("--text-heads") { Description = "Text attention heads (default width/64)." };

    /// <summary>ClipMe layers.</summary>
    public Option<string?> ClipLayers { get; } = new("--clip-layers") { Description = "0-based ClipMe layers the index was made with (default 8,9,10)." };

    /// <summary>Adds the options to <paramref name="command"/>.</summary>
    public void AddTo(Command command)
    {
        foreach (var option in new Option[] { Model, Vocab, VisionHeads, TextHeads, ClipLayers })
        {
            command.Options.Add(option);
        }
    }

    /// <summary>The settings parsed from <paramref name="parse"/>.</summary>
    public QueryModelSettings Settings(ParseResult parse) => new(
        parse.GetValue(VisionHeads),
        parse.GetValue(TextHeads),
        parse.GetValue(ClipLayers) is { } layers ? EncoderOptionsParsing.IntList(layers, "--clip-layers") : null);
}

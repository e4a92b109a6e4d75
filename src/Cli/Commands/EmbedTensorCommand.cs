using System.CommandLine;
using TempMe.Pipeline.Encoder;
using TempMe.Pipeline.Encoder.Internal;

namespace TempMe.Pipeline.Cli.Commands;

/// <summary>
/// The <c>tempme embed-tensor</c> command: runs the TempMe encoders on tensors stored in a safetensors file
/// (<c>video</c> F32 [B,T,3,H,W], optional <c>video_mask</c>, <c>text_ids</c>, <c>text_mask</c>) and writes
/// <c>video_embedding</c>, <c>text_embedding</c> and <c>tokens_per_clip</c>.
/// </summary>
internal static class EmbedTensorCommand
{
    /// <summary>Creates the command.</summary>
    public static Command Create()
    {
        var options = new EmbedTensorOptions();
        var command = new Command("embed-tensor", "Embed videos (and captions) stored as tensors in a safetensors file.");
        foreach (var option in options.All)
        {
            command.Options.Add(option);
        }

        CommandAction.Set(command, (parse, ct) => Task.FromResult(Run(parse, options, ct)));
        return command;
    }

    private static int Run(ParseResult parse, EmbedTensorOptions o, CancellationToken ct)
    {
        var schedule = Schedule(parse, o);
        var weightsPath = parse.GetValue(o.Weights)!;
        var captions = parse.GetValue(o.Texts) ?? [];
        using var inFile = EncoderOptionsParsing.Load(() => SafeTensorsFile.Open(parse.GetValue(o.Input)!));
        var (b, t, s) = VideoShape(inFile);
        var wantText = captions.Length > 0 || inFile.Find("text_ids") is not null;
        var options = new EncoderOptions { VisionHeads = parse.GetValue(o.VisionHeads), TextHeads = parse.GetValue(o.TextHeads), Schedule = schedule, LoadText = wantText };
        var encoder = EncoderOptionsParsing.Load(() => EncoderFactory.Create(weightsPath, t, options, Console.Error));
        if (encoder.ImageSize != s)
        {
            throw new UsageException($"{inFile.Path}: frames are {s}×{s} but the model takes {encoder.ImageSize}×{encoder.ImageSize}; resize the input.");
        }

        var video = EncoderOptionsParsing.Load(() => inFile.ReadFloat32("video"));
        var mask = VideoMask(inFile, b, t);
        ct.ThrowIfCancellationRequested();
        var e = encoder.EmbeddingSize;
        var videoEmb = new float[b * e];
        encoder.EncodeVideos(video, b, mask, videoEmb, null);
        var outputs = new List<SafeTensorsWriter.Tensor>
        {
            SafeTensorsWriter.Tensor.F32("video_embedding", [b, e], videoEmb),
            SafeTensorsWriter.Tensor.I64("tokens_per_clip", [encoder.TokensPerClip.Length], encoder.TokensPerClip),
        };

        if (wantText)
        {
            var text = captions.Length > 0 ? TokenizeCaptions(captions, Tokenizer(parse.GetValue(o.Vocab), weightsPath)) : ReadTextIds(inFile);
            var textEmb = new float[text.Count * e];
            try
            {
                encoder.EncodeTexts(text.Ids, text.Mask, text.Count, text.Length, textEmb);
            }
            catch (ArgumentException ex)
            {
                throw new UsageException($"{inFile.Path}: text: {ex.Message}");
            }

            outputs.Add(SafeTensorsWriter.Tensor.F32("text_embedding", [text.Count, e], textEmb));
        }

        SafeTensorsWriter.Write(parse.GetValue(o.Output)!, outputs, new Dictionary<string, string> { ["fingerprint"] = encoder.Fingerprint });
        Console.WriteLine($"wrote {parse.GetValue(o.Output)}: {b} video embeddings{(wantText ? " and text embeddings" : string.Empty)} of size {e}; tokens per clip {string.Join(",", encoder.TokensPerClip)}");
        return ExitCodes.Ok;
    }

    /// <summary>The merge schedule the options ask for (plain CLIP with <c>--no-merge</c>).</summary>
    private static TempMeSchedule Schedule(ParseResult parse, EmbedTensorOptions o) => parse.GetValue(o.NoMerge)
        ? TempMeSchedule.NoMerge
        : TempMeSchedule.Default with
        {
            ImgMeR = parse.GetValue(o.ImgMeR),
            ClipLayers = EncoderOptionsParsing.IntList(parse.GetValue(o.ClipLayers)!, "--clip-layers"),
            ClipGroups = EncoderOptionsParsing.IntList(parse.GetValue(o.ClipGroups)!, "--clip-groups"),
            CrossRatio = parse.GetValue(o.CrossMerge),
            IntraRatio = parse.GetValue(o.IntraMerge),
            TemporalPos = !parse.GetValue(o.NoTemporalPos),
            PropAttn = !parse.GetValue(o.NoPropAttn),
        };

    /// <summary>Videos, frames and frame size of the input's <c>video</c> tensor, which must be [B, T, 3, S, S].</summary>
    private static (int B, int T, int S) VideoShape(SafeTensorsFile inFile)
    {
        var entry = inFile.Find("video") ?? throw new UsageException($"{inFile.Path}: no 'video' tensor; expected F32 [B, T, 3, H, W].");
        if (entry.Shape.Length != 5 || entry.Shape[2] != 3 || entry.Shape[3] != entry.Shape[4])
        {
            throw new UsageException($"{inFile.Path}: 'video' has shape {entry.ShapeText}; expected [B, T, 3, S, S].");
        }

        return (entry.Shape[0], entry.Shape[1], entry.Shape[3]);
    }

    /// <summary>The optional <c>video_mask</c> [B, T] as floats; empty when the input has none (every frame counts).</summary>
    private static float[] VideoMask(SafeTensorsFile inFile, int b, int t)
    {
        if (inFile.Find("video_mask") is not { } entry)
        {
            return [];
        }

        if (entry.ElementCount != (long)b * t)
        {
            throw new UsageException($"{inFile.Path}: 'video_mask' has shape {entry.ShapeText}; expected [{b}, {t}].");
        }

        return EncoderOptionsParsing.Load(() => inFile.ReadInt64("video_mask")).Select(m => (float)m).ToArray();
    }

    /// <summary>The CLIP vocabulary of <c>--vocab</c>, or the one beside the weights.</summary>
    private static ClipTokenizer Tokenizer(string? vocabPath, string weightsPath) =>
        EncoderOptionsParsing.Load(() => vocabPath is not null
            ? ClipTokenizer.Load(vocabPath)
            : ClipTokenizer.TryLoadBeside(Directory.Exists(weightsPath) ? weightsPath : Path.GetDirectoryName(Path.GetFullPath(weightsPath))!))
        ?? throw new UsageException($"--text needs a CLIP vocabulary: none beside {weightsPath}; pass --vocab with a folder holding {ClipTokenizer.OpenAiVocabFile} or vocab.json + merges.txt.");

    /// <summary>The <c>--text</c> captions as token ids and masks of CLIP's 32-token context.</summary>
    private static TextTokens TokenizeCaptions(string[] captions, ClipTokenizer tokenizer)
    {
        const int Length = 32;
        var ids = new long[captions.Length * Length];
        var mask = new long[captions.Length * Length];
        for (var i = 0; i < captions.Length; i++)
        {
            var (ti, tm) = tokenizer.Tokenize(captions[i], Length);
            ti.CopyTo(ids, i * Length);
            tm.CopyTo(mask, i * Length);
        }

        return new TextTokens(ids, mask, captions.Length, Length);
    }

    /// <summary>The input's <c>text_ids</c> [N, L] and <c>text_mask</c> (non-zero ids when it has none).</summary>
    private static TextTokens ReadTextIds(SafeTensorsFile inFile)
    {
        var entry = inFile.Find("text_ids")!;
        if (entry.Shape.Length != 2)
        {
            throw new UsageException($"{inFile.Path}: 'text_ids' has shape {entry.ShapeText}; expected [N, L].");
        }

        var ids = EncoderOptionsParsing.Load(() => inFile.ReadInt64("text_ids"));
        var mask = inFile.Find("text_mask") is not null ? EncoderOptionsParsing.Load(() => inFile.ReadInt64("text_mask")) : ids.Select(id => id != 0 ? 1L : 0L).ToArray();
        if (mask.Length != ids.Length)
        {
            throw new UsageException($"{inFile.Path}: 'text_mask' must have the shape of 'text_ids' {entry.ShapeText}.");
        }

        return new TextTokens(ids, mask, entry.Shape[0], entry.Shape[1]);
    }

    /// <summary>Token ids and masks of <paramref name="Count"/> texts of <paramref name="Length"/> tokens each.</summary>
    private sealed record TextTokens(long[] Ids, long[] Mask, int Count, int Length);

    /// <summary>The command's options.</summary>
    private sealed class EmbedTensorOptions
    {
        public Option<string> Weights { get; } = new("--weights") { Description = "Checkpoint: a .safetensors, .pt, .pth or .bin file, or a folder holding one.", Required = true };

        public Option<string> Input { get; } = new("--input") { Description = "Input safetensors: video F32 [B,T,3,H,W], optional video_mask, text_ids, text_mask (I64).", Required = true };

        public Option<string> Output { get; } = new("--output") { Description = "Output safetensors: video_embedding, text_embedding, tokens_per_clip.", Required = true };

        public Option<string?> Vocab { get; } = new("--vocab") { Description = "CLIP vocabulary (folder or file); default: beside the weights." };

        public Option<int?> VisionHeads { get; } = new("--vision-heads") { Description = "Visual attention heads (default width/64)." };

        public Option<int?> TextHeads { get; } = new("--text-heads") { Description = "Text attention heads (default width/64)." };

        public Option<int> ImgMeR { get; } = new("--imgme-r") { Description = "Tokens merged per frame in ImgMe layers.", DefaultValueFactory = _ => 2 };

        public Option<string> ClipLayers { get; } = new("--clip-layers") { Description = "0-based ClipMe layers.", DefaultValueFactory = _ => "8,9,10" };

        public Option<string> ClipGroups { get; } = new("--clip-groups") { Description = "Clips merged into one at each ClipMe layer.", DefaultValueFactory = _ => "2,2,3" };

        public Option<double> CrossMerge { get; } = new("--cross-merge") { Description = "Cross-clip merged fraction.", DefaultValueFactory = _ => 0.30 };

        public Option<double> IntraMerge { get; } = new("--intra-merge") { Description = "Intra-clip merged fraction.", DefaultValueFactory = _ => 0.10 };

        public Option<bool> NoTemporalPos { get; } = new("--no-temporal-pos") { Description = "Do not add temporal positional embeddings in ClipMe layers." };

        public Option<bool> NoPropAttn { get; } = new("--no-prop-attn") { Description = "Switch off proportional attention." };

        public Option<bool> NoMerge { get; } = new("--no-merge") { Description = "Plain CLIP with mean pooling over frames (CLIP4Clip meanP)." };

        public Option<string[]> Texts { get; } = new("--text") { Description = "Caption to embed (repeatable); replaces text_ids.", AllowMultipleArgumentsPerToken = false };

        public Option[] All => [Weights, Input, Output, Vocab, VisionHeads, TextHeads, ImgMeR, ClipLayers, ClipGroups, CrossMerge, IntraMerge, NoTemporalPos, NoPropAttn, NoMerge, Texts];
    }
}

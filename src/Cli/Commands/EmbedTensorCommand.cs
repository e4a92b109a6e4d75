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
        var weights = new Option<string>("--weights") { Description = "Checkpoint: a .safetensors, .pt, .pth or .bin file, or a folder holding one.", Required = true };
        var input = new Option<string>("--input") { Description = "Input safetensors: video F32 [B,T,3,H,W], optional video_mask, text_ids, text_mask (I64).", Required = true };
        var outputOpt = new Option<string>("--output") { Description = "Output safetensors: video_embedding, text_embedding, tokens_per_clip.", Required = true };
        var vocab = new Option<string?>("--vocab") { Description = "CLIP vocabulary (folder or file); default: beside the weights." };
        var visionHeads = new Option<int?>("--vision-heads") { Description = "Visual attention heads (default width/64)." };
        var textHeads = new Option<int?>("--text-heads") { Description = "Text attention heads (default width/64)." };
        var imgmeR = new Option<int>("--imgme-r") { Description = "Tokens merged per frame in ImgMe layers.", DefaultValueFactory = _ => 2 };
        var clipLayers = new Option<string>("--clip-layers") { Description = "0-based ClipMe layers.", DefaultValueFactory = _ => "8,9,10" };
        var clipGroups = new Option<string>("--clip-groups") { Description = "Clips merged into one at each ClipMe layer.", DefaultValueFactory = _ => "2,2,3" };
        var cross = new Option<double>("--cross-merge") { Description = "Cross-clip merged fraction.", DefaultValueFactory = _ => 0.30 };
        var intra = new Option<double>("--intra-merge") { Description = "Intra-clip merged fraction.", DefaultValueFactory = _ => 0.10 };
        var noTemporal = new Option<bool>("--no-temporal-pos") { Description = "Do not add temporal positional embeddings in ClipMe layers." };
        var noProp = new Option<bool>("--no-prop-attn") { Description = "Switch off proportional attention." };
        var noMerge = new Option<bool>("--no-merge") { Description = "Plain CLIP with mean pooling over frames (CLIP4Clip meanP)." };
        var texts = new Option<string[]>("--text") { Description = "Caption to embed (repeatable); replaces text_ids.", AllowMultipleArgumentsPerToken = false };

        var command = new Command("embed-tensor", "Embed videos (and captions) stored as tensors in a safetensors file.");
        foreach (var o in new Option[] { weights, input, outputOpt, vocab, visionHeads, textHeads, imgmeR, clipLayers, clipGroups, cross, intra, noTemporal, noProp, noMerge, texts })
        {
            command.Options.Add(o);
        }

        CommandAction.Set(command, (parse, ct) =>
        {
            var weightsPath = parse.GetValue(weights)!;
            var schedule = parse.GetValue(noMerge)
                ? TempMeSchedule.NoMerge
                : TempMeSchedule.Default with
                {
                    ImgMeR = parse.GetValue(imgmeR),
                    ClipLayers = EncoderOptionsParsing.IntList(parse.GetValue(clipLayers)!, "--clip-layers"),
                    ClipGroups = EncoderOptionsParsing.IntList(parse.GetValue(clipGroups)!, "--clip-groups"),
                    CrossRatio = parse.GetValue(cross),
                    IntraRatio = parse.GetValue(intra),
                    TemporalPos = !parse.GetValue(noTemporal),
                    PropAttn = !parse.GetValue(noProp),
                };

            var captions = parse.GetValue(texts) ?? [];
            using var inFile = EncoderOptionsParsing.Load(() => SafeTensorsFile.Open(parse.GetValue(input)!));
            var videoEntry = inFile.Find("video") ?? throw new UsageException($"{inFile.Path}: no 'video' tensor; expected F32 [B, T, 3, H, W].");
            if (videoEntry.Shape.Length != 5 || videoEntry.Shape[2] != 3 || videoEntry.Shape[3] != videoEntry.Shape[4])
            {
                throw new UsageException($"{inFile.Path}: 'video' has shape {videoEntry.ShapeText}; expected [B, T, 3, S, S].");
            }

            var (b, t, s) = (videoEntry.Shape[0], videoEntry.Shape[1], videoEntry.Shape[3]);
            var hasTextIds = inFile.Find("text_ids") is not null;
            var wantText = captions.Length > 0 || hasTextIds;
            var options = new EncoderOptions { VisionHeads = parse.GetValue(visionHeads), TextHeads = parse.GetValue(textHeads), Schedule = schedule, LoadText = wantText };
            var encoder = EncoderOptionsParsing.Load(() => EncoderFactory.Create(weightsPath, t, options, Console.Error));
            if (encoder.ImageSize != s)
            {
                throw new UsageException($"{inFile.Path}: frames are {s}×{s} but the model takes {encoder.ImageSize}×{encoder.ImageSize}; resize the input.");
            }

            var video = EncoderOptionsParsing.Load(() => inFile.ReadFloat32("video"));
            float[] mask = [];
            if (inFile.Find("video_mask") is { } maskEntry)
            {
                if (maskEntry.ElementCount != (long)b * t)
                {
                    throw new UsageException($"{inFile.Path}: 'video_mask' has shape {maskEntry.ShapeText}; expected [{b}, {t}].");
                }

                mask = EncoderOptionsParsing.Load(() => inFile.ReadInt64("video_mask")).Select(m => (float)m).ToArray();
            }

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
                long[] ids, tmask;
                int n, len;
                if (captions.Length > 0)
                {
                    var vocabPath = parse.GetValue(vocab);
                    var tokenizer = EncoderOptionsParsing.Load(() => vocabPath is not null
                        ? ClipTokenizer.Load(vocabPath)
                        : ClipTokenizer.TryLoadBeside(Directory.Exists(weightsPath) ? weightsPath : Path.GetDirectoryName(Path.GetFullPath(weightsPath))!))
                        ?? throw new UsageException($"--text needs a CLIP vocabulary: none beside {weightsPath}; pass --vocab with a folder holding {ClipTokenizer.OpenAiVocabFile} or vocab.json + merges.txt.");
                    (n, len) = (captions.Length, 32);
                    ids = new long[n * len];
                    tmask = new long[n * len];
                    for (var i = 0; i < n; i++)
                    {
                        var (ti, tm) = tokenizer.Tokenize(captions[i], len);
                        ti.CopyTo(ids, i * len);
                        tm.CopyTo(tmask, i * len);
                    }
                }
                else
                {
                    var idEntry = inFile.Find("text_ids")!;
                    if (idEntry.Shape.Length != 2)
                    {
                        throw new UsageException($"{inFile.Path}: 'text_ids' has shape {idEntry.ShapeText}; expected [N, L].");
                    }

                    (n, len) = (idEntry.Shape[0], idEntry.Shape[1]);
                    ids = EncoderOptionsParsing.Load(() => inFile.ReadInt64("text_ids"));
                    tmask = inFile.Find("text_mask") is { } tm ? EncoderOptionsParsing.Load(() => inFile.ReadInt64("text_mask")) : ids.Select(id => id != 0 ? 1L : 0L).ToArray();
                    if (tmask.Length != ids.Length)
                    {
                        throw new UsageException($"{inFile.Path}: 'text_mask' must have the shape of 'text_ids' {idEntry.ShapeText}.");
                    }
                }

                var textEmb = new float[n * e];
                try
                {
                    encoder.EncodeTexts(ids, tmask, n, len, textEmb);
                }
                catch (ArgumentException ex)
                {
                    throw new UsageException($"{inFile.Path}: text: {ex.Message}");
                }

                outputs.Add(SafeTensorsWriter.Tensor.F32("text_embedding", [n, e], textEmb));
            }

            SafeTensorsWriter.Write(parse.GetValue(outputOpt)!, outputs, new Dictionary<string, string> { ["fingerprint"] = encoder.Fingerprint });
            Console.WriteLine($"wrote {parse.GetValue(outputOpt)}: {b} video embeddings{(wantText ? " and text embeddings" : string.Empty)} of size {e}; tokens per clip {string.Join(",", encoder.TokensPerClip)}");
            return Task.FromResult(ExitCodes.Ok);
        });
        return command;
    }
}

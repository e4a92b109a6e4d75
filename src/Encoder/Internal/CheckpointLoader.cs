using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using TempMe.Pipeline.Encoder.Kernels;

namespace TempMe.Pipeline.Encoder.Internal;

/// <summary>The checkpoint naming schemes we recognise.</summary>
internal enum NamingScheme
{
    /// <summary>OpenAI CLIP names (<c>visual.conv1.weight</c>), optionally with a prefix such as <c>clip.</c>.</summary>
    OpenAi,

    /// <summary>Hugging Face <c>CLIPModel</c> names (<c>vision_model.embeddings.patch_embedding.weight</c>).</summary>
    HuggingFace,
}

/// <summary>
/// Loads a CLIP/TempMe checkpoint (safetensors, zip torch.save or TorchScript) into <see cref="ClipWeights"/>: detects the naming scheme, reads the
/// architecture from tensor shapes, checks every shape, folds LoRA (<c>TVPt_LoRA_a/b</c>, scale 1) into the qkv weights
/// and picks up the temporal embeddings.
/// </summary>
internal sealed class CheckpointLoader
{
    private readonly ITensorFile _file;
    private readonly string _prefix;
    private readonly NamingScheme _scheme;
    private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);

    private CheckpointLoader(ITensorFile file, NamingScheme scheme, string prefix)
    {
        _file = file;
        _scheme = scheme;
        _prefix = prefix;
    }

    /// <summary>Detects the naming scheme and prefix of <paramref name="file"/>.</summary>
    public static (NamingScheme Scheme, string Prefix) Detect(ITensorFile file)
    {
        foreach (var name in file.Tensors.Keys.Order(StringComparer.Ordinal))
        {
            if (name.EndsWith("visual.conv1.weight", StringComparison.Ordinal))
            {
                return (NamingScheme.OpenAi, name[..^"visual.conv1.weight".Length]);
            }

            if (name.EndsWith("vision_model.embeddings.patch_embedding.weight", StringComparison.Ordinal))
            {
                return (NamingScheme.HuggingFace, name[..^"vision_model.embeddings.patch_embedding.weight".Length]);
            }
        }

        var sample = string.Join(", ", file.Tensors.Keys.Order(StringComparer.Ordinal).Take(5));
        throw new ModelLoadException(
            $"{file.Path}: unknown naming scheme: expected 'visual.conv1.weight' (OpenAI CLIP), 'clip.visual.conv1.weight' (TempMe checkpoint) " +
            $"or 'vision_model.embeddings.patch_embedding.weight' (Hugging Face CLIPModel); the file has {file.Tensors.Count} tensors, e.g. {sample}.");
    }

    /// <summary>Loads the model in <paramref name="path"/>.</summary>
    public static ClipWeights Load(string path, bool loadText, int? visionHeads, int? textHeads, TextWriter? notices)
    {
        using var file = TensorFileOpener.Open(path);
        var (scheme, prefix) = Detect(file);
        var loader = new CheckpointLoader(file, scheme, prefix);
        var vision = loader.LoadVision(visionHeads, notices);
        var text = loadText ? loader.LoadText(textHeads) : null;
        var logitScale = MathF.Log(1f / 0.07f);
        var ls = loader.Name("logit_scale");
        if (file.Find(ls) is { ElementCount: 1 })
        {
            logitScale = file.ReadFloat32(ls)[0];
        }

        return new ClipWeights
        {
            Vision = vision,
            Text = text,
            LogitScale = logitScale,
            WeightsHash = Convert.ToHexStringLower(loader._hash.GetHashAndReset()),
            Source = $"{path} ({(scheme == NamingScheme.OpenAi ? "OpenAI CLIP names" : "Hugging Face CLIPModel names")}{(prefix.Length > 0 ? $", prefix '{prefix}'" : string.Empty)})",
        };
    }

    private string Name(string openAiName) => _prefix + openAiName;

    private VisionWeights LoadVision(int? headsOverride, TextWriter? notices)
    {
        var hf = _scheme == NamingScheme.HuggingFace;
        var convName = Name(hf ? "vision_model.embeddings.patch_embedding.weight" : "visual.conv1.weight");
        var (width, patch) = PatchShape(convName);
        var posName = Name(hf ? "vision_model.embeddings.position_embedding.weight" : "visual.positional_embedding");
        var (tokens, grid) = PositionShape(posName, width, convName);
        var layers = CountLayers(hf ? "vision_model.encoder.layers." : "visual.transformer.resblocks.", hf ? ".self_attn.q_proj.weight" : ".attn.in_proj_weight");
        if (layers == 0)
        {
            throw new ModelLoadException($"{_file.Path}: missing tensor '{Name(hf ? "vision_model.encoder.layers.0.self_attn.q_proj.weight" : "visual.transformer.resblocks.0.attn.in_proj_weight")}' (no visual transformer layers).");
        }

        var heads = Heads(width, headsOverride, "vision");
        var projName = Name(hf ? "visual_projection.weight" : "visual.proj");
        var outDim = ProjectionOutput(projName, width);
        var mlp = MlpWidth(hf ? "vision_model.encoder.layers.0.mlp.fc1.weight" : "visual.transformer.resblocks.0.mlp.c_fc.weight", width);
        var convW = Get(convName, width, 3, patch, patch);
        var cls = Get(Name(hf ? "vision_model.embeddings.class_embedding" : "visual.class_embedding"), width);
        var posW = Get(posName, tokens, width);
        var lnPre = Name(hf ? "vision_model.pre_layrnorm." : "visual.ln_pre.");
        var lnPost = Name(hf ? "vision_model.post_layernorm." : "visual.ln_post.");
        var proj = hf ? Transpose(Get(projName, outDim, width), outDim, width) : Get(projName, width, outDim);
        var blocks = LoadVisionBlocks(layers, width, mlp, notices);
        return new VisionWeights
        {
            Width = width,
            Patch = patch,
            Grid = grid,
            OutputDim = outDim,
            MlpWidth = mlp,
            Heads = heads,
            ConvWeight = convW,
            ClassEmbedding = cls,
            PositionalEmbedding = posW,
            LnPreWeight = Get(lnPre + "weight", width),
            LnPreBias = Get(lnPre + "bias", width),
            LnPostWeight = Get(lnPost + "weight", width),
            LnPostBias = Get(lnPost + "bias", width),
            Projection = proj,
            Blocks = blocks,
        };
    }

    /// <summary>Width and patch size from the patch convolution <c>[width, 3, patch, patch]</c>.</summary>
    private (int Width, int Patch) PatchShape(string convName)
    {
        var conv = Entry(convName);
        if (conv.Shape.Length != 4 || conv.Shape[0] == 0 || conv.Shape[1] != 3 || conv.Shape[2] != conv.Shape[3] || conv.Shape[2] == 0)
        {
            throw Shape(conv, "[width, 3, patch, patch]");
        }

        return (conv.Shape[0], conv.Shape[2]);
    }

    /// <summary>Tokens per frame (1 + g²) and grid side g from the positional embedding <c>[1 + g², width]</c>.</summary>
    private (int Tokens, int Grid) PositionShape(string posName, int width, string convName)
    {
        var pos = Entry(posName);
        var tokens = pos.Shape.Where(d => d != 1).Count() == 2 ? (int)(pos.ElementCount / width) : -1;
        var grid = (int)Math.Round(Math.Sqrt(Math.Max(0, tokens - 1)));
        if (tokens < 2 || pos.ElementCount != (long)tokens * width || (grid * grid) + 1 != tokens)
        {
            throw Shape(pos, $"[1 + g², {width}] (a square patch grid; width {width} from {convName})");
        }

        return (tokens, grid);
    }

    /// <summary>The visual blocks with their temporal embeddings; a notice when no block has one (plain CLIP weights).</summary>
    private BlockWeights[] LoadVisionBlocks(int layers, int width, int mlp, TextWriter? notices)
    {
        var hf = _scheme == NamingScheme.HuggingFace;
        var blocks = new BlockWeights[layers];
        for (var l = 0; l < layers; l++)
        {
            var block = hf
                ? LoadHfBlock($"vision_model.encoder.layers.{l}.", width, mlp)
                : LoadOpenAiBlock($"visual.transformer.resblocks.{l}.", width, mlp);
            LoadTemporal(block, Name(hf ? $"vision_model.encoder.layers.{l}.TVPt_Video_Positional_embedding" : $"visual.transformer.resblocks.{l}.TVPt_Video_Positional_embedding"), width);
            blocks[l] = block;
        }

        if (blocks.All(b => b.TemporalPos is null))
        {
            notices?.WriteLine($"notice: no temporal embeddings (TVPt_Video_Positional_embedding) in {_file.Path}: using zeros (plain CLIP weights; TempMe merging still runs).");
        }

        return blocks;
    }

    /// <summary>Sets the block's temporal positional embedding <c>[1, clips, 1, width]</c> when the checkpoint has one.</summary>
    private void LoadTemporal(BlockWeights block, string name, int width)
    {
        if (_file.Find(name) is not { } tp)
        {
            return;
        }

        var clips = (int)(tp.ElementCount / width);
        if (clips * (long)width != tp.ElementCount || tp.Shape.Where(d => d != 1).Count() > 2)
        {
            throw Shape(tp, $"[1, clips, 1, {width}]");
        }

        block.TemporalPos = Get(name, clips, width);
        block.TemporalClips = clips;
    }

    private TextWeights LoadText(int? headsOverride)
    {
        var hf = _scheme == NamingScheme.HuggingFace;
        var tokName = Name(hf ? "text_model.embeddings.token_embedding.weight" : "token_embedding.weight");
        var (vocab, width) = TokenEmbeddingShape(tokName);
        var posName = Name(hf ? "text_model.embeddings.position_embedding.weight" : "positional_embedding");
        var context = ContextLength(posName, width);
        var layers = CountLayers(hf ? "text_model.encoder.layers." : "transformer.resblocks.", hf ? ".self_attn.q_proj.weight" : ".attn.in_proj_weight");
        if (layers == 0)
        {
            throw new ModelLoadException($"{_file.Path}: missing tensor '{Name(hf ? "text_model.encoder.layers.0.self_attn.q_proj.weight" : "transformer.resblocks.0.attn.in_proj_weight")}' (no text transformer layers).");
        }

        var projName = Name(hf ? "text_projection.weight" : "text_projection");
        var outDim = ProjectionOutput(projName, width);
        var mlp = MlpWidth(hf ? "text_model.encoder.layers.0.mlp.fc1.weight" : "transformer.resblocks.0.mlp.c_fc.weight", width);
        var blocks = new BlockWeights[layers];
        for (var l = 0; l < layers; l++)
        {
            blocks[l] = hf ? LoadHfBlock($"text_model.encoder.layers.{l}.", width, mlp) : LoadOpenAiBlock($"transformer.resblocks.{l}.", width, mlp);
        }

        var ln = Name(hf ? "text_model.final_layer_norm." : "ln_final.");
        return new TextWeights
        {
            Width = width,
            Context = context,
            VocabSize = vocab,
            OutputDim = outDim,
            MlpWidth = mlp,
            Heads = Heads(width, headsOverride, "text"),
            TokenEmbedding = Get(tokName, vocab, width),
            PositionalEmbedding = Get(posName, context, width),
            LnFinalWeight = Get(ln + "weight", width),
            LnFinalBias = Get(ln + "bias", width),
            Projection = hf ? Transpose(Get(projName, outDim, width), outDim, width) : Get(projName, width, outDim),
            Blocks = blocks,
        };
    }

    /// <summary>Vocabulary size and width from the token embedding <c>[vocab, width]</c>.</summary>
    private (int Vocab, int Width) TokenEmbeddingShape(string tokName)
    {
        var tok = Entry(tokName);
        if (tok.Shape.Length != 2)
        {
            throw Shape(tok, "[vocab, width]");
        }

        if (tok.Shape[1] == 0)
        {
            throw Shape(tok, "[vocab, width] with a positive width");
        }

        return (tok.Shape[0], tok.Shape[1]);
    }

    /// <summary>The text context length from the positional embedding <c>[context, width]</c>.</summary>
    private int ContextLength(string posName, int width)
    {
        var pos = Entry(posName);
        if (pos.Shape.Length != 2 || pos.Shape[1] != width)
        {
            throw Shape(pos, $"[context, {width}]");
        }

        return pos.Shape[0];
    }

    /// <summary>The embedding size E of a projection: <c>[width, E]</c> in OpenAI names, <c>[E, width]</c> in Hugging Face ones.</summary>
    private int ProjectionOutput(string projName, int width)
    {
        var hf = _scheme == NamingScheme.HuggingFace;
        var projEntry = Entry(projName);
        if (projEntry.Shape.Length != 2)
        {
            throw Shape(projEntry, hf ? $"[E, {width}]" : $"[{width}, E]");
        }

        return hf ? projEntry.Shape[0] : projEntry.Shape[1];
    }

    private BlockWeights LoadOpenAiBlock(string p, int width, int mlp)
    {
        var inW = Get(Name(p + "attn.in_proj_weight"), checked(3 * width), width);
        var aName = Name(p + "attn.TVPt_LoRA_a");
        var bName = Name(p + "attn.TVPt_LoRA_b");
        if (_file.Find(aName) is { } a && _file.Find(bName) is { } b)
        {
            if (a.Shape.Length != 2 || a.Shape[1] != width)
            {
                throw Shape(a, $"[rank, {width}]");
            }

            var rank = a.Shape[0];
            var loraA = Get(aName, rank, width);
            var loraB = Get(bName, checked(3 * width), rank);

            // W' = W + B·A (LoRA, scale 1): fold once at load.
            MatMul.Gemm(false, 3 * width, width, rank, 1f, loraB, rank, loraA, width, 1f, inW, width);
        }
        else if (_file.Find(aName) is not null || _file.Find(bName) is not null)
        {
            throw new ModelLoadException($"{_file.Path}: missing tensor '{(_file.Find(aName) is null ? aName : bName)}' (LoRA needs both TVPt_LoRA_a and TVPt_LoRA_b).");
        }

        return new BlockWeights
        {
            InProjWeight = inW,
            InProjBias = Get(Name(p + "attn.in_proj_bias"), checked(3 * width)),
            OutProjWeight = Get(Name(p + "attn.out_proj.weight"), width, width),
            OutProjBias = Get(Name(p + "attn.out_proj.bias"), width),
            Ln1Weight = Get(Name(p + "ln_1.weight"), width),
            Ln1Bias = Get(Name(p + "ln_1.bias"), width),
            Ln2Weight = Get(Name(p + "ln_2.weight"), width),
            Ln2Bias = Get(Name(p + "ln_2.bias"), width),
            FcWeight = Get(Name(p + "mlp.c_fc.weight"), mlp, width),
            FcBias = Get(Name(p + "mlp.c_fc.bias"), mlp),
            ProjWeight = Get(Name(p + "mlp.c_proj.weight"), width, mlp),
            ProjBias = Get(Name(p + "mlp.c_proj.bias"), width),
        };
    }

    private BlockWeights LoadHfBlock(string p, int width, int mlp)
    {
        // Read (and so check against the file) before allocating: a width taken from another tensor's shape can make
        // 3 · width² overflow or ask for gigabytes that no tensor in the file backs.
        // Same read order as ever (weight, bias per part): the fingerprint hashes the tensors in the order they are read.
        string[] parts = ["q_proj", "k_proj", "v_proj"];
        var weights = new float[3][];
        var biases = new float[3][];
        for (var i = 0; i < 3; i++)
        {
            weights[i] = Get(Name($"{p}self_attn.{parts[i]}.weight"), width, width);
            biases[i] = Get(Name($"{p}self_attn.{parts[i]}.bias"), width);
        }

        var inW = Concat(weights);
        var inB = Concat(biases);

        return new BlockWeights
        {
            InProjWeight = inW,
            InProjBias = inB,
            OutProjWeight = Get(Name(p + "self_attn.out_proj.weight"), width, width),
            OutProjBias = Get(Name(p + "self_attn.out_proj.bias"), width),
            Ln1Weight = Get(Name(p + "layer_norm1.weight"), width),
            Ln1Bias = Get(Name(p + "layer_norm1.bias"), width),
            Ln2Weight = Get(Name(p + "layer_norm2.weight"), width),
            Ln2Bias = Get(Name(p + "layer_norm2.bias"), width),
            FcWeight = Get(Name(p + "mlp.fc1.weight"), mlp, width),
            FcBias = Get(Name(p + "mlp.fc1.bias"), mlp),
            ProjWeight = Get(Name(p + "mlp.fc2.weight"), width, mlp),
            ProjBias = Get(Name(p + "mlp.fc2.bias"), width),
        };
    }

    private int MlpWidth(string fcName, int width)
    {
        var fc = Entry(Name(fcName));
        if (fc.Shape.Length != 2 || fc.Shape[1] != width)
        {
            throw Shape(fc, $"[mlp, {width}]");
        }

        return fc.Shape[0];
    }

    private int CountLayers(string layerPrefix, string suffix)
    {
        var n = 0;
        while (_file.Find(Name(layerPrefix + n.ToString(CultureInfo.InvariantCulture) + suffix)) is not null)
        {
            n++;
        }

        return n;
    }

    private int Heads(int width, int? requested, string what)
    {
        var heads = requested ?? Math.Max(1, width / 64);
        if (heads <= 0 || width % heads != 0)
        {
            throw new ModelLoadException($"{_file.Path}: {what} heads {heads} must divide the width {width}; pass a divisor of {width} (default width/64 = {Math.Max(1, width / 64)}).");
        }

        return heads;
    }

    private SafeTensorEntry Entry(string name)
        => _file.Find(name) ?? throw new ModelLoadException($"{_file.Path}: missing tensor '{name}' ({SchemeText()}).");

    private float[] Get(string name, params int[] shape)
    {
        var e = Entry(name);
        var want = shape.Where(d => d != 1).ToArray();
        var have = e.Shape.Where(d => d != 1).ToArray();
        if (!want.SequenceEqual(have))
        {
            throw Shape(e, "[" + string.Join(", ", shape) + "]");
        }

        var values = _file.ReadFloat32(name);
        _hash.AppendData(Encoding.UTF8.GetBytes(name[_prefix.Length..]));
        _hash.AppendData(System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()));
        return values;
    }

    private ModelLoadException Shape(SafeTensorEntry e, string expected)
        => new($"{_file.Path}: tensor '{e.Name}' has shape {e.ShapeText}, which contradicts the expected {expected}.");

    private string SchemeText() => _scheme == NamingScheme.OpenAi ? $"OpenAI CLIP names, prefix '{_prefix}'" : $"Hugging Face CLIPModel names, prefix '{_prefix}'";

    private static float[] Concat(float[][] parts)
    {
        var result = new float[parts.Sum(part => (long)part.Length)];
        var offset = 0;
        foreach (var part in parts)
        {
            part.CopyTo(result, offset);
            offset += part.Length;
        }

        return result;
    }

    private static float[] Transpose(float[] m, int rows, int cols)
    {
        var t = new float[m.Length];
        for (var r = 0; r < rows; r++)
        {
            for (var c = 0; c < cols; c++)
            {
                t[(c * rows) + r] = m[(r * cols) + c];
            }
        }

        return t;
    }
}

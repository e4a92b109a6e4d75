namespace TempMe.Pipeline.Encoder;

/// <summary>Weights of one pre-LN transformer block (PyTorch layouts: Linear weights are <c>[out, in]</c>).</summary>
internal sealed class BlockWeights
{
    /// <summary>qkv projection <c>[3W, W]</c> (LoRA already folded in).</summary>
    public required float[] InProjWeight { get; init; }

    /// <summary>qkv bias <c>[3W]</c>.</summary>
    public required float[] InProjBias { get; init; }

    /// <summary>Output projection <c>[W, W]</c>.</summary>
    public required float[] OutProjWeight { get; init; }

    /// <summary>Output bias <c>[W]</c>.</summary>
    public required float[] OutProjBias { get; init; }

    /// <summary>LN1 gamma.</summary>
    public required float[] Ln1Weight { get; init; }

    /// <summary>LN1 beta.</summary>
    public required float[] Ln1Bias { get; init; }

    /// <summary>LN2 gamma.</summary>
    public required float[] Ln2Weight { get; init; }

    /// <summary>LN2 beta.</summary>
    public required float[] Ln2Bias { get; init; }

    /// <summary>MLP up projection <c>[M, W]</c>.</summary>
    public required float[] FcWeight { get; init; }

    /// <summary>MLP up bias <c>[M]</c>.</summary>
    public required float[] FcBias { get; init; }

    /// <summary>MLP down projection <c>[W, M]</c>.</summary>
    public required float[] ProjWeight { get; init; }

    /// <summary>MLP down bias <c>[W]</c>.</summary>
    public required float[] ProjBias { get; init; }

    /// <summary>TempMe temporal (clip) positional embedding <c>[F_in, W]</c>, or null when the checkpoint has none.</summary>
    public float[]? TemporalPos { get; set; }

    /// <summary>Number of clips in <see cref="TemporalPos"/>.</summary>
    public int TemporalClips { get; set; }
}

/// <summary>The CLIP visual encoder's weights and sizes.</summary>
internal sealed class VisionWeights
{
    /// <summary>Width D.</summary>
    public required int Width { get; init; }

    /// <summary>Patch size p.</summary>
    public required int Patch { get; init; }

    /// <summary>Patches per side g.</summary>
    public required int Grid { get; init; }

    /// <summary>Image side g·p.</summary>
    public int ImageSize => Grid * Patch;

    /// <summary>Tokens per frame including CLS.</summary>
    public int TokensPerFrame => (Grid * Grid) + 1;

    /// <summary>Output (embedding) size E.</summary>
    public required int OutputDim { get; init; }

    /// <summary>MLP hidden width.</summary>
    public required int MlpWidth { get; init; }

    /// <summary>Attention heads.</summary>
    public required int Heads { get; init; }

    /// <summary>conv1 weight <c>[D, 3, p, p]</c>.</summary>
    public required float[] ConvWeight { get; init; }

    /// <summary>Class embedding <c>[D]</c>.</summary>
    public required float[] ClassEmbedding { get; init; }

    /// <summary>Spatial positional embedding <c>[1+P, D]</c>.</summary>
    public required float[] PositionalEmbedding { get; init; }

    /// <summary>ln_pre gamma.</summary>
    public required float[] LnPreWeight { get; init; }

    /// <summary>ln_pre beta.</summary>
    public required float[] LnPreBias { get; init; }

    /// <summary>ln_post gamma.</summary>
    public required float[] LnPostWeight { get; init; }

    /// <summary>ln_post beta.</summary>
    public required float[] LnPostBias { get; init; }

    /// <summary>Projection <c>[D, E]</c> (OpenAI layout, applied as x·proj).</summary>
    public required float[] Projection { get; init; }

    /// <summary>Transformer blocks.</summary>
    public required BlockWeights[] Blocks { get; init; }
}

/// <summary>The CLIP text encoder's weights and sizes.</summary>
internal sealed class TextWeights
{
    /// <summary>Width W.</summary>
    public required int Width { get; init; }

    /// <summary>Context length (rows of the positional embedding).</summary>
    public required int Context { get; init; }

    /// <summary>Vocabulary size.</summary>
    public required int VocabSize { get; init; }

    /// <summary>Output size E.</summary>
    public required int OutputDim { get; init; }

    /// <summary>MLP hidden width.</summary>
    public required int MlpWidth { get; init; }

    /// <summary>Attention heads.</summary>
    public required int Heads { get; init; }

    /// <summary>Token embedding <c>[V, W]</c>.</summary>
    public required float[] TokenEmbedding { get; init; }

    /// <summary>Positional embedding <c>[context, W]</c>.</summary>
    public required float[] PositionalEmbedding { get; init; }

    /// <summary>ln_final gamma.</summary>
    public required float[] LnFinalWeight { get; init; }

    /// <summary>ln_final beta.</summary>
    public required float[] LnFinalBias { get; init; }

    /// <summary>Projection <c>[W, E]</c> (OpenAI layout).</summary>
    public required float[] Projection { get; init; }

    /// <summary>Transformer blocks.</summary>
    public required BlockWeights[] Blocks { get; init; }
}

/// <summary>A loaded CLIP/TempMe model.</summary>
internal sealed class ClipWeights
{
    /// <summary>Visual encoder.</summary>
    public required VisionWeights Vision { get; init; }

    /// <summary>Text encoder, when loaded.</summary>
    public TextWeights? Text { get; init; }

    /// <summary>ln(1/temperature); CLIP's value when the checkpoint has none.</summary>
    public float LogitScale { get; init; } = MathF.Log(1f / 0.07f);

    /// <summary>Hex SHA-256 of the loaded weights (canonical names + float32 values), or of the random spec.</summary>
    public required string WeightsHash { get; init; }

    /// <summary>Where the weights came from, in words.</summary>
    public required string Source { get; init; }

    /// <summary>Whether the weights are random (embeddings meaningless).</summary>
    public bool IsRandom { get; init; }
}

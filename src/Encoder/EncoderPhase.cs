namespace TempMe.Pipeline.Encoder;

/// <summary>A step of the visual encoder whose time <see cref="PhaseClock"/> adds up.</summary>
internal enum EncoderPhase
{
    /// <summary>Patch embedding, class token, positional embedding and ln_pre.</summary>
    Embed,

    /// <summary>ln_1 and ln_2.</summary>
    LayerNorm,

    /// <summary>The QKV, attention output and MLP matrix products.</summary>
    Gemm,

    /// <summary>Scaled dot-product attention per head.</summary>
    Attention,

    /// <summary>Bipartite matching (and the key metric it runs on).</summary>
    Match,

    /// <summary>Size-weighted merging of the matched tokens.</summary>
    Merge,

    /// <summary>QuickGELU.</summary>
    Gelu,

    /// <summary>Everything else: regrouping clips, temporal embedding, residual adds, traces.</summary>
    Other,
}

namespace TempMe.Pipeline.Encoder;

/// <summary>The kind of a merge, as named in reference.json.</summary>
internal enum MergeKind
{
    /// <summary>ImgMe merge after attention.</summary>
    ImgMe,

    /// <summary>Cross-clip merge before LN1 in a ClipMe layer.</summary>
    CrossClip,

    /// <summary>Intra-clip merge after attention.</summary>
    IntraClip,
}

/// <summary>Records intermediate states of the visual encoder; used by parity tests. Calls come from one thread.</summary>
internal interface IEncoderTrace
{
    /// <summary>One row's merge decision: A indices merged (descending score), their B destinations, unmerged A indices (ascending).</summary>
    void OnMerge(int layer, MergeKind kind, int r, int cls, int tokensIn, int row, ReadOnlySpan<int> src, ReadOnlySpan<int> dst, ReadOnlySpan<int> unm);

    /// <summary>
    /// A hidden state <c>[rows, tokens, width]</c>: point "input" (after ln_pre, layer −1), "before_ln_1", "before_ln_2", "output".
    /// <paramref name="size"/> holds each token's merge size.
    /// </summary>
    void OnHidden(int layer, string point, ReadOnlySpan<float> x, ReadOnlySpan<float> size, int rows, int tokens, int width);
}

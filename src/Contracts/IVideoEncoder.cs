namespace TempMe.Pipeline.Contracts;

/// <summary>Embeds batches of videos. Implementations are thread-safe for sequential use by one caller at a time.</summary>
public interface IVideoEncoder
{
    /// <summary>Width of one embedding (E).</summary>
    int EmbeddingSize { get; }

    /// <summary>Frames per video this encoder was configured for.</summary>
    int FramesPerVideo { get; }

    /// <summary>Square input image side.</summary>
    int ImageSize { get; }

    /// <summary>Stable hash of the weights and the merge schedule; a different value means different embeddings.</summary>
    string Fingerprint { get; }

    /// <summary>
    /// Embeds <paramref name="videoCount"/> videos laid out as <c>[B, T, 3, S, S]</c> in <paramref name="frames"/>
    /// and writes <c>[B, E]</c> unit-length rows to <paramref name="embeddings"/>.
    /// </summary>
    void EncodeVideos(ReadOnlySpan<float> frames, int videoCount, Span<float> embeddings);
}

namespace TempMe.Pipeline.Contracts;

/// <summary>How frames are chosen and preprocessed for the encoder (TempMe evaluation sampling).</summary>
/// <param name="Frames">Frames per video, T (12 by default; 64 for long videos).</param>
/// <param name="ImageSize">Side of the square crop fed to the model (224 for CLIP ViT-B).</param>
/// <param name="FramesPerSecond">Candidate frames per second before uniform subsampling to T (1 in TempMe).</param>
public sealed record SamplingSettings(int Frames = 12, int ImageSize = 224, double FramesPerSecond = 1.0)
{
    /// <summary>The authors' evaluation defaults.</summary>
    public static SamplingSettings Default { get; } = new();

    /// <summary>A short stable text used in keys and fingerprints, e.g. <c>t12-s224-fps1</c>.</summary>
    public string Key => FormattableString.Invariant($"t{Frames}-s{ImageSize}-fps{FramesPerSecond:0.###}");

    /// <summary>Floats in one video's frame tensor <c>[T, 3, S, S]</c>.</summary>
    public int FloatsPerVideo => Frames * 3 * ImageSize * ImageSize;
}

namespace TempMe.Pipeline.Contracts;

/// <summary>How frames are chosen and preprocessed for the encoder (TempMe evaluation sampling).</summary>
/// <param name="Frames">Frames per video, T (12 by default; 64 for long videos).</param>
/// <param name="ImageSize">Side of the square crop fed to the model (224 for CLIP ViT-B).</param>
/// <param name="FramesPerSecond">Candidate frames per second before uniform subsampling to T (1 in TempMe).</param>
public sealed record SamplingSettings(int Frames = 12, int ImageSize = 224, double FramesPerSecond = 1.0)
{
    /// <summary>The authors' evaluation defaults.</summary>
    public static SamplingSettings Default { get; } = new();

    /// <summary>The fewest frames per video any command or job accepts.</summary>
    public const int MinFrames = 1;

    /// <summary>
    /// The most frames per video any command or job accepts (the CLI and the silo share it): far above TempMe's 64 for
    /// long videos, and small enough that a video's frame tensor stays well inside one array.
    /// </summary>
    public const int MaxFrames = 256;

    /// <summary>Whether <paramref name="frames"/> is within <see cref="MinFrames"/> and <see cref="MaxFrames"/>.</summary>
    public static bool IsValidFrameCount(int frames) => frames is >= MinFrames and <= MaxFrames;

    /// <summary>A short stable text used in keys and fingerprints, e.g. <c>t12-s224-fps1</c>.</summary>
    public string Key => FormattableString.Invariant($"t{Frames}-s{ImageSize}-fps{FramesPerSecond:0.###}");

    /// <summary>Floats in one video's frame tensor <c>[T, 3, S, S]</c>.</summary>
    /// <exception cref="OverflowException">The tensor would not fit an array (frames far above <see cref="MaxFrames"/>).</exception>
    public int FloatsPerVideo => checked(Frames * 3 * ImageSize * ImageSize);

    /// <summary>Floats in a batch of <paramref name="videos"/> frame tensors, as a long so that it never overflows.</summary>
    public long FloatsPerBatch(int videos) => (long)videos * Frames * 3 * ImageSize * ImageSize;
}

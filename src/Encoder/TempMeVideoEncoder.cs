using System.Security.Cryptography;
using System.Text;
using TempMe.Pipeline.Contracts;
using TempMe.Pipeline.Encoder.Kernels;

namespace TempMe.Pipeline.Encoder;

/// <summary>Options beyond the model spec: head counts, the schedule, whether to load the text encoder.</summary>
internal sealed record EncoderOptions
{
    /// <summary>Visual heads (default width/64).</summary>
    public int? VisionHeads { get; init; }

    /// <summary>Text heads (default width/64).</summary>
    public int? TextHeads { get; init; }

    /// <summary>Merge schedule.</summary>
    public TempMeSchedule Schedule { get; init; } = TempMeSchedule.Default;

    /// <summary>Load the text encoder too.</summary>
    public bool LoadText { get; init; }

    /// <summary>Most tokens (frames × tokens per frame) one forward pass holds; larger batches are split.</summary>
    public int TokenBudget { get; init; } = 8192;
}

/// <summary>The TempMe video encoder (and, when loaded, the CLIP text encoder).</summary>
internal sealed class TempMeVideoEncoder : IVideoEncoder
{
    private readonly VisionTransformer _vision;
    private readonly TextTransformer? _text;
    private readonly Lock _gate = new();
    private readonly int _videosPerPass;

    /// <summary>Creates the encoder from loaded weights.</summary>
    public TempMeVideoEncoder(ClipWeights weights, int framesPerVideo, EncoderOptions options, TextWriter? notices)
    {
        Weights = weights;
        _vision = new VisionTransformer(weights.Vision, options.Schedule, framesPerVideo, notices);
        _text = weights.Text is null ? null : new TextTransformer(weights.Text);
        FramesPerVideo = framesPerVideo;
        _videosPerPass = Math.Max(1, options.TokenBudget / (framesPerVideo * weights.Vision.TokensPerFrame));
        var v = weights.Vision;
        var spec = $"tempme-encoder v1|weights={weights.WeightsHash}|frames={framesPerVideo}|heads={v.Heads}|schedule={options.Schedule.Describe()}";
        Fingerprint = "sha256:" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(spec)));
    }

    /// <inheritdoc />
    public int EmbeddingSize => Weights.Vision.OutputDim;

    /// <inheritdoc />
    public int FramesPerVideo { get; }

    /// <inheritdoc />
    public int ImageSize => Weights.Vision.ImageSize;

    /// <inheritdoc />
    public string Fingerprint { get; }

    /// <summary>The weights.</summary>
    public ClipWeights Weights { get; }

    /// <summary>The visual encoder.</summary>
    public VisionTransformer Vision => _vision;

    /// <summary>The text encoder, or null when not loaded.</summary>
    public TextTransformer? Text => _text;

    /// <summary>Tokens per clip entering layer 0, then after each layer.</summary>
    public long[] TokensPerClip => TempMeSchedule.TokensPerClip(_vision.Plans, Weights.Vision.TokensPerFrame);

    /// <inheritdoc />
    public void EncodeVideos(ReadOnlySpan<float> frames, int videoCount, Span<float> embeddings) => EncodeVideos(frames, videoCount, default, embeddings, null);

    /// <summary>Encodes with an optional frame mask <c>[B, T]</c> and trace.</summary>
    public void EncodeVideos(ReadOnlySpan<float> frames, int videoCount, ReadOnlySpan<float> frameMask, Span<float> embeddings, IEncoderTrace? trace)
    {
        var s = ImageSize;
        var perVideo = FramesPerVideo * 3 * s * s;
        ArgumentOutOfRangeException.ThrowIfNegative(videoCount);
        if (frames.Length != (long)videoCount * perVideo)
        {
            throw new ArgumentException($"frames holds {frames.Length} floats; {videoCount} videos of [{FramesPerVideo}, 3, {s}, {s}] need {(long)videoCount * perVideo}.", nameof(frames));
        }

        if (embeddings.Length < videoCount * EmbeddingSize)
        {
            throw new ArgumentException($"embeddings holds {embeddings.Length} floats; {videoCount}×{EmbeddingSize} needed.", nameof(embeddings));
        }

        if (!frameMask.IsEmpty && frameMask.Length != videoCount * FramesPerVideo)
        {
            throw new ArgumentException($"frame mask holds {frameMask.Length} values; {videoCount}×{FramesPerVideo} needed.", nameof(frameMask));
        }

        lock (_gate)
        {
            for (var v0 = 0; v0 < videoCount; v0 += _videosPerPass)
            {
                var n = Math.Min(_videosPerPass, videoCount - v0);
                _vision.Encode(
                    frames.Slice(v0 * perVideo, n * perVideo), n,
                    frameMask.IsEmpty ? default : frameMask.Slice(v0 * FramesPerVideo, n * FramesPerVideo),
                    embeddings.Slice(v0 * EmbeddingSize, n * EmbeddingSize), trace);
            }
        }
    }

    /// <summary>Encodes texts; writes unit-length rows, and the unnormalised features when asked.</summary>
    public void EncodeTexts(ReadOnlySpan<long> ids, ReadOnlySpan<long> mask, int count, int length, Span<float> embeddings, Span<float> unnormalized = default)
    {
        if (_text is null)
        {
            throw new InvalidOperationException("the text encoder was not loaded (EncoderOptions.LoadText)");
        }

        var e = _text.Weights.OutputDim;
        var features = new float[count * e];
        lock (_gate)
        {
            _text.Encode(ids, mask, count, length, features);
        }

        if (!unnormalized.IsEmpty)
        {
            features.CopyTo(unnormalized);
        }

        for (var i = 0; i < count; i++)
        {
            L2Normalize.Apply(features.AsSpan(i * e, e), embeddings.Slice(i * e, e));
        }
    }
}

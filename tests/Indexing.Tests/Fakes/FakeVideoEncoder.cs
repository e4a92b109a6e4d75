using TempMe.Pipeline.Contracts;

namespace TempMe.Pipeline.Indexing.Tests.Fakes;

/// <summary>
/// An encoder without a model: a video whose frames hold value v embeds as the unit vector (cos v, sin v).
/// <see cref="BeforeEncode"/> lets a test hold a batch or make it throw, a fault a real model does not produce on demand.
/// </summary>
internal sealed class FakeVideoEncoder : IVideoEncoder
{
    private int _calls;
    private int _encoded;

    /// <inheritdoc />
    public int EmbeddingSize => 2;

    /// <inheritdoc />
    public int FramesPerVideo => 1;

    /// <inheritdoc />
    public int ImageSize => 2;

    /// <inheritdoc />
    public string Fingerprint => "fake";

    /// <summary>The sampling settings this encoder takes.</summary>
    public SamplingSettings Sampling => new(FramesPerVideo, ImageSize);

    /// <summary>Encoder calls started.</summary>
    public int Calls => Volatile.Read(ref _calls);

    /// <summary>Videos embedded by calls that returned.</summary>
    public int Encoded => Volatile.Read(ref _encoded);

    /// <summary>Runs at the start of each call with the call's number (from 1) and its video count.</summary>
    public Action<int, int>? BeforeEncode { get; set; }

    /// <inheritdoc />
    public void EncodeVideos(ReadOnlySpan<float> frames, int videoCount, Span<float> embeddings)
    {
        BeforeEncode?.Invoke(Interlocked.Increment(ref _calls), videoCount);
        var perVideo = Sampling.FloatsPerVideo;
        for (var i = 0; i < videoCount; i++)
        {
            var value = frames[i * perVideo];
            embeddings[i * 2] = MathF.Cos(value);
            embeddings[(i * 2) + 1] = MathF.Sin(value);
        }

        Interlocked.Add(ref _encoded, videoCount);
    }
}

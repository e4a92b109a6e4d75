using TempMe.Pipeline.Contracts;

namespace TempMe.Pipeline.Indexing.Tests.Fakes;

/// <summary>
/// A sampler without ffmpeg: every frame value is the file's first byte / 255, so an embedding tells which content it
/// came from. <see cref="Gate"/> lets a test hold sampling (and see cancellation) at the point a real decode takes time.
/// </summary>
internal sealed class FakeFrameSampler : IFrameSampler
{
    private int _calls;

    /// <summary>Sampling calls started.</summary>
    public int Calls => Volatile.Read(ref _calls);

    /// <summary>Awaited at the start of each call with the call's number (from 1); may throw on cancellation, as ffmpeg's wait does.</summary>
    public Func<int, string, CancellationToken, Task>? Gate { get; set; }

    /// <inheritdoc />
    public async Task<FrameSample> SampleAsync(string path, SamplingSettings settings, CancellationToken cancellationToken)
    {
        var call = Interlocked.Increment(ref _calls);
        if (Gate is { } gate)
        {
            await gate(call, path, cancellationToken);
        }

        var value = (await File.ReadAllBytesAsync(path, cancellationToken))[0] / 255f;
        var frames = new float[settings.FloatsPerVideo];
        Array.Fill(frames, value);
        return new FrameSample
        {
            Source = path, Frames = frames, FrameIndices = [0], TimestampsSeconds = [0.5],
            Probe = new VideoProbe { DurationSeconds = 1 },
        };
    }
}

namespace TempMe.Pipeline.Contracts;

/// <summary>Turns a local video file into the frame tensor the encoder takes.</summary>
public interface IFrameSampler
{
    /// <summary>
    /// Samples <see cref="SamplingSettings.Frames"/> frames from the file. Never throws for a bad video:
    /// failures come back as a <see cref="FrameSample"/> with an error code. Throws only
    /// <see cref="OperationCanceledException"/> when <paramref name="cancellationToken"/> fires, after any child process is gone.
    /// </summary>
    Task<FrameSample> SampleAsync(string path, SamplingSettings settings, CancellationToken cancellationToken);
}

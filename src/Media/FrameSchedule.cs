namespace TempMe.Pipeline.Media;

/// <summary>
/// TempMe evaluation frame choice (the authors' <c>_get_rawvideo_dec</c>; docs/ENCODER.md, section 1), in original frame numbers.
/// Pure arithmetic: no I/O.
/// </summary>
internal static class FrameSchedule
{
    /// <summary>
    /// Effectively computes, in Python:
    /// <code>
    /// stride = int(round(fps / sample_fps)); all_pos = range(0, n, stride)
    /// if len(all_pos) &gt; T: [all_pos[i] for i in np.linspace(0, len(all_pos) - 1, T, dtype=int)]
    /// elif len(all_pos) == T: all_pos
    /// else: np.linspace(0, n - 1, T, dtype=int)
    /// </code>
    /// Python <c>round</c> rounds halves to even; numpy's linspace is <c>start + i * ((stop - start) / (T - 1))</c> in
    /// double with the last element set to <c>stop</c> exactly, then truncated towards zero. Returns an empty array when
    /// <paramref name="frameCount"/> is not positive.
    /// </summary>
    /// <param name="frameCount">n, the number of frames in the stream.</param>
    /// <param name="framesPerSecond">The stream's average frame rate.</param>
    /// <param name="frames">T, the number of frames wanted (positive).</param>
    /// <param name="samplingFramesPerSecond">Candidate frames per second (1 in TempMe).</param>
    public static long[] Compute(long frameCount, double framesPerSecond, int frames, double samplingFramesPerSecond = 1.0)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(frames);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(samplingFramesPerSecond);
        if (frameCount <= 0)
        {
            return [];
        }

        var stride = Stride(framesPerSecond, samplingFramesPerSecond);
        var candidates = (frameCount + stride - 1) / stride; // len(range(0, n, stride))
        var result = new long[frames];
        if (candidates > frames)
        {
            var pick = Linspace(0, candidates - 1, frames);
            for (var i = 0; i < frames; i++)
            {
                result[i] = pick[i] * stride;
            }
        }
        else if (candidates == frames)
        {
            for (var i = 0; i < frames; i++)
            {
                result[i] = i * stride;
            }
        }
        else
        {
            Linspace(0, frameCount - 1, frames).CopyTo(result, 0);
        }

        return result;
    }

    /// <summary><c>int(round(fps / sample_fps))</c> with Python's round-half-to-even, at least 1.</summary>
    public static long Stride(double framesPerSecond, double samplingFramesPerSecond)
    {
        if (!double.IsFinite(framesPerSecond) || framesPerSecond <= 0)
        {
            return 1;
        }

        var stride = (long)Math.Round(framesPerSecond / samplingFramesPerSecond, MidpointRounding.ToEven);
        return Math.Max(1, stride);
    }

    /// <summary><c>np.linspace(start, stop, num, dtype=int)</c> for non-negative integer ends.</summary>
    public static long[] Linspace(long start, long stop, int num)
    {
        var result = new long[num];
        if (num == 1)
        {
            result[0] = start;
            return result;
        }

        var step = (double)(stop - start) / (num - 1);
        for (var i = 0; i < num - 1; i++)
        {
            result[i] = (long)((i * step) + start);
        }

        result[num - 1] = stop;
        return result;
    }
}

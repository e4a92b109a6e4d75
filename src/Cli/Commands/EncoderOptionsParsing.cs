using System.Globalization;
using TempMe.Pipeline.Contracts;
using TempMe.Pipeline.Encoder;

namespace TempMe.Pipeline.Cli.Commands;

/// <summary>Parsing helpers shared by the encoder commands.</summary>
internal static class EncoderOptionsParsing
{
    /// <summary>Parses "8,9,10" into integers; throws <see cref="UsageException"/> naming the option.</summary>
    public static int[] IntList(string text, string option)
    {
        var parts = text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        var result = new int[parts.Length];
        for (var i = 0; i < parts.Length; i++)
        {
            if (!int.TryParse(parts[i], NumberStyles.Integer, CultureInfo.InvariantCulture, out result[i]))
            {
                throw new UsageException($"{option} '{text}' is not a comma-separated list of integers (e.g. 8,9,10).");
            }
        }

        return result;
    }

    /// <summary>Checks <c>--frames</c> against the bound the silo also uses; throws <see cref="UsageException"/> outside it.</summary>
    public static int Frames(int frames)
    {
        if (!SamplingSettings.IsValidFrameCount(frames))
        {
            throw new UsageException($"--frames must be from {SamplingSettings.MinFrames} to {SamplingSettings.MaxFrames}, got {frames}: choose a frame count in that range (TempMe uses 12, or 64 for long videos).");
        }

        return frames;
    }

    /// <summary>Checks that <c>--batch</c> videos of <paramref name="sampling"/> frames fit the one input buffer the encoder fills.</summary>
    public static void FramesFitOneBatch(int batch, SamplingSettings sampling)
    {
        var floats = sampling.FloatsPerBatch(batch);
        if (floats > Array.MaxLength)
        {
            throw new UsageException(string.Create(CultureInfo.InvariantCulture,
                $"--batch {batch} with --frames {sampling.Frames} needs {floats} floats in one input buffer, more than the {Array.MaxLength} an array holds: lower --batch or --frames."));
        }
    }

    /// <summary>Runs <paramref name="create"/>, turning <see cref="ModelLoadException"/> into <see cref="UsageException"/>.</summary>
    public static T Load<T>(Func<T> create)
    {
        try
        {
            return create();
        }
        catch (ModelLoadException e)
        {
            throw new UsageException(e.Message);
        }
    }
}

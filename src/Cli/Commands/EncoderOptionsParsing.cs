using System.Globalization;
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

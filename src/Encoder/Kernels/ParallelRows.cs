namespace TempMe.Pipeline.Encoder.Kernels;

/// <summary>Runs a row body serially for small work and with <see cref="Parallel.For(int, int, Action{int})"/> otherwise.</summary>
internal static class ParallelRows
{
    /// <summary>Calls <paramref name="body"/> for 0..count−1.</summary>
    public static void For(int count, bool serial, Action<int> body)
    {
        if (serial || count < 2 || Environment.ProcessorCount == 1)
        {
            for (var i = 0; i < count; i++)
            {
                body(i);
            }

            return;
        }

        Parallel.For(0, count, body);
    }
}

namespace TempMe.Pipeline.Encoder.Internal.Checkpoints;

/// <summary>
/// Compares dict keys as <see cref="object.Equals(object?)"/> does, but hashes numbers with a per-process seed: a
/// boxed long's own hash folds its halves together (<c>k * (2^32 + 1)</c> all hash to 0), so a crafted dict of a
/// million such keys would make every insertion scan all the others.
/// </summary>
internal sealed class PickleKeyComparer : IEqualityComparer<object>
{
    /// <summary>The one instance.</summary>
    public static readonly PickleKeyComparer Instance = new();

    private PickleKeyComparer()
    {
    }

    /// <inheritdoc />
    public new bool Equals(object? x, object? y) => object.Equals(x, y);

    /// <inheritdoc />
    public int GetHashCode(object obj) => obj switch
    {
        long l => HashCode.Combine((int)l, (int)(l >> 32)),

        // Equal doubles must hash alike: 0.0 and -0.0 are equal, and every NaN equals every NaN.
        double d => Bits(d == 0 ? 0.0 : double.IsNaN(d) ? double.NaN : d),
        _ => obj.GetHashCode(), // strings: already seeded per process
    };

    private static int Bits(double d)
    {
        var bits = BitConverter.DoubleToInt64Bits(d);
        return HashCode.Combine((int)bits, (int)(bits >> 32), 1);
    }
}

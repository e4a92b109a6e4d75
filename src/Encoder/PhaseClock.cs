using System.Diagnostics;
using System.Globalization;

namespace TempMe.Pipeline.Encoder;

/// <summary>
/// Adds up the time spent in each <see cref="EncoderPhase"/> when <c>TEMPME_PROFILE=1</c>; does nothing otherwise.
/// Totals accumulate over calls. One thread at a time.
/// </summary>
internal sealed class PhaseClock
{
    private static readonly bool Enabled = Environment.GetEnvironmentVariable("TEMPME_PROFILE") == "1";

    private readonly Stopwatch _watch = new();
    private readonly double[] _seconds = new double[Enum.GetValues<EncoderPhase>().Length];

    /// <summary>Starts timing the first phase of a call.</summary>
    public void Start()
    {
        if (Enabled)
        {
            _watch.Restart();
        }
    }

    /// <summary>Charges the time since the previous mark (or <see cref="Start"/>) to <paramref name="phase"/>.</summary>
    public void Mark(EncoderPhase phase)
    {
        if (Enabled)
        {
            _seconds[(int)phase] += _watch.Elapsed.TotalSeconds;
            _watch.Restart();
        }
    }

    /// <summary>Writes the totals as one <c>profile:</c> line to standard error.</summary>
    public void Report()
    {
        if (Enabled)
        {
            Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"profile: embed {Seconds(EncoderPhase.Embed):F2}s ln {Seconds(EncoderPhase.LayerNorm):F2}s gemm {Seconds(EncoderPhase.Gemm):F2}s attn {Seconds(EncoderPhase.Attention):F2}s match {Seconds(EncoderPhase.Match):F2}s merge {Seconds(EncoderPhase.Merge):F2}s gelu {Seconds(EncoderPhase.Gelu):F2}s other {Seconds(EncoderPhase.Other):F2}s"));
        }
    }

    private double Seconds(EncoderPhase phase) => _seconds[(int)phase];
}

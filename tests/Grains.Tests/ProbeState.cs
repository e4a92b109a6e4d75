namespace TempMe.Pipeline.Grains.Tests;

/// <summary>The probe grain's persisted state; alias and ids pinned, as stored state names them.</summary>
[GenerateSerializer, Alias("tempme.test.probe-state")]
public sealed class ProbeState
{
    /// <summary>The last value written by a caller.</summary>
    [Id(0)] public string Value { get; set; } = "";

    /// <summary>How many reminder ticks the grain has received, over all its activations.</summary>
    [Id(1)] public int Ticks { get; set; }

    /// <summary>The silo that handled the last tick.</summary>
    [Id(2)] public string? LastTickSilo { get; set; }
}

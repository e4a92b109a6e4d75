namespace TempMe.Pipeline.Grains.Tests;

/// <summary>What a probe grain answers: its state, the silo it runs on and its state's ETag.</summary>
[GenerateSerializer, Alias("tempme.test.probe-reading")]
public sealed record ProbeReading(
    [property: Id(0)] string Value,
    [property: Id(1)] string Silo,
    [property: Id(2)] string? ETag,
    [property: Id(3)] int Ticks,
    [property: Id(4)] string? LastTickSilo);

namespace TempMe.Pipeline.Grains.Tests;

/// <summary>A test grain with persisted state and a reminder, to see state and reminders move between silos.</summary>
[Alias("tempme.test.probe")]
public interface IProbeGrain : IGrainWithStringKey
{
    /// <summary>Stores <paramref name="value"/> and answers where and at which version it was written.</summary>
    [Alias("write")]
    Task<ProbeReading> WriteAsync(string value);

    /// <summary>The stored state as the current activation sees it.</summary>
    [Alias("read")]
    Task<ProbeReading> ReadAsync();

    /// <summary>Registers the tick reminder with <paramref name="period"/>.</summary>
    [Alias("start-ticking")]
    Task<ProbeReading> StartTickingAsync(TimeSpan period);
}

using Orleans.Runtime;
using TempMe.Pipeline.Grains.Cluster;

namespace TempMe.Pipeline.Grains.Tests;

/// <summary>The probe grain: state in the <see cref="OrleansNames.JobStorage"/> storage, a reminder that counts ticks.</summary>
[GrainType("tempme-test-probe")]
public sealed class ProbeGrain(
    [PersistentState(ProbeGrain.StateName, OrleansNames.JobStorage)] IPersistentState<ProbeState> state,
    ILocalSiloDetails silo) : Grain, IProbeGrain, IRemindable
{
    /// <summary>The state name, which the storage keys rows by.</summary>
    public const string StateName = "probe";

    /// <summary>The reminder's name.</summary>
    public const string ReminderName = "tick";

    /// <inheritdoc />
    public async Task<ProbeReading> WriteAsync(string value)
    {
        state.State.Value = value;
        await state.WriteStateAsync();
        return Reading();
    }

    /// <inheritdoc />
    public Task<ProbeReading> ReadAsync() => Task.FromResult(Reading());

    /// <inheritdoc />
    public async Task<ProbeReading> StartTickingAsync(TimeSpan period)
    {
        await this.RegisterOrUpdateReminder(ReminderName, period, period);
        return Reading();
    }

    /// <inheritdoc />
    public async Task ReceiveReminder(string reminderName, TickStatus status)
    {
        state.State.Ticks++;
        state.State.LastTickSilo = silo.Name;
        await state.WriteStateAsync();
    }

    private ProbeReading Reading() => new(state.State.Value, silo.Name, state.Etag, state.State.Ticks, state.State.LastTickSilo);
}

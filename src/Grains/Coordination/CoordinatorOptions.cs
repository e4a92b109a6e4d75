using TempMe.Pipeline.Ledger.Postgres;

namespace TempMe.Pipeline.Grains.Coordination;

/// <summary>What the coordination grains need to know about the coordinator silo they run in.</summary>
public sealed class CoordinatorOptions
{
    /// <summary>Local folders job sources and outputs may lie under; empty refuses every local path.</summary>
    public IReadOnlyList<string> AllowedRoots { get; set; } = [];

    /// <summary>Backoff and limit of a job whose listing keeps failing transiently; manifest writes use the backoff and never give up.</summary>
    public JobRetryPolicy JobRetry { get; set; } = new(6, TimeSpan.FromSeconds(2), TimeSpan.FromMinutes(2));

    /// <summary>Period of each job's reminder: how soon a job grain notices a step is due after its silo died or a backoff ran out.</summary>
    public TimeSpan JobTick { get; set; } = TimeSpan.FromSeconds(5);
}

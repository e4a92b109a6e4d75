using Orleans.Runtime;
using Polly;
using Polly.Retry;

namespace TempMe.Pipeline.Worker.Gpu;

/// <summary>
/// Retries a grain call that failed because the coordinator silo hosting the grain died or the call timed out: after
/// the cluster declares that silo dead the grain is reactivated on another coordinator and the retry reaches it.
/// Every coordination call is idempotent (results keyed by video, completion guarded by the lease token), so a call
/// whose answer was lost may be repeated; a repeated claim at worst leaves one shard leased until its lease runs out.
/// </summary>
internal static class GrainCalls
{
    private static readonly ResiliencePipeline Pipeline = new ResiliencePipelineBuilder()
        .AddRetry(new RetryStrategyOptions
        {
            ShouldHandle = new PredicateBuilder().Handle<Exception>(IsTransient),
            BackoffType = DelayBackoffType.Exponential,
            UseJitter = true,
            Delay = TimeSpan.FromMilliseconds(500),
            MaxDelay = TimeSpan.FromSeconds(5),
            // About two minutes in all: longer than a dead silo takes to be declared dead with default membership settings.
            MaxRetryAttempts = 30,
        })
        .Build();

    /// <summary>Runs <paramref name="call"/>, retrying transient cluster failures.</summary>
    public static async Task<T> RunAsync<T>(Func<Task<T>> call, CancellationToken cancellationToken) =>
        await Pipeline.ExecuteAsync(async ct => await call().WaitAsync(ct), cancellationToken);

    /// <summary>Runs <paramref name="call"/>, retrying transient cluster failures.</summary>
    public static async Task RunAsync(Func<Task> call, CancellationToken cancellationToken) =>
        await Pipeline.ExecuteAsync(async ct => await call().WaitAsync(ct), cancellationToken);

    /// <summary>
    /// Failures of the cluster rather than of the call: the target silo died, the call timed out, or no coordinator has
    /// joined yet (the worker silo then knows no silo that hosts the grain, and Orleans reports that as a missing
    /// implementation or no compatible silo).
    /// </summary>
    public static bool IsTransient(Exception e) =>
        e is TimeoutException or SiloUnavailableException or OrleansMessageRejectionException
            || (e is OrleansException && e.Message.Contains("compatible", StringComparison.OrdinalIgnoreCase))
            || (e is ArgumentException && e.Message.StartsWith("Could not find an implementation for interface", StringComparison.Ordinal));
}

using System.Net.Sockets;
using Npgsql;
using Polly;
using Polly.Retry;

namespace TempMe.Pipeline.Ledger.Postgres;

/// <summary>
/// Retries transient PostgreSQL faults (server restarting or unreachable, connection dropped, serialization failures)
/// with exponential backoff and jitter. A retried database call is never counted as a video attempt.
/// </summary>
internal static class PostgresRetry
{
    /// <summary>Whether <paramref name="exception"/> may succeed when the whole transaction is tried again.</summary>
    public static bool IsTransient(Exception exception) => exception switch
    {
        PostgresException pg => pg.IsTransient
            || pg.SqlState.StartsWith("57P", StringComparison.Ordinal)   // admin/crash shutdown, cannot connect now
            || pg.SqlState.StartsWith("08", StringComparison.Ordinal)    // connection exceptions
            || pg.SqlState is "40001" or "40P01" or "53300",
        NpgsqlException npgsql => npgsql.IsTransient || npgsql.InnerException is SocketException or IOException or TimeoutException,
        SocketException or TimeoutException => true,
        InvalidOperationException { InnerException: { } inner } => IsTransient(inner),
        _ => false,
    };

    /// <summary>A pipeline that keeps trying for roughly <paramref name="budget"/> before giving up.</summary>
    public static ResiliencePipeline Create(TimeSpan budget, Action<Exception, TimeSpan>? onRetry)
    {
        var maxDelay = TimeSpan.FromSeconds(4);
        var attempts = 0;
        var total = TimeSpan.Zero;
        var delay = TimeSpan.FromMilliseconds(200);
        while (total < budget && attempts < 100)
        {
            total += delay;
            attempts++;
            delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, maxDelay.Ticks));
        }

        return new ResiliencePipelineBuilder()
            .AddRetry(new RetryStrategyOptions
            {
                ShouldHandle = args => ValueTask.FromResult(args.Outcome.Exception is { } e && IsTransient(e)),
                MaxRetryAttempts = Math.Max(1, attempts),
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                Delay = TimeSpan.FromMilliseconds(200),
                MaxDelay = maxDelay,
                OnRetry = args =>
                {
                    if (args.Outcome.Exception is { } e)
                    {
                        onRetry?.Invoke(e, args.RetryDelay);
                    }

                    return ValueTask.CompletedTask;
                },
            })
            .Build();
    }
}

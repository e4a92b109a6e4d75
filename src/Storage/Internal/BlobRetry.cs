using System.Net;
using Polly;
using Polly.Retry;
using Polly.Timeout;

namespace TempMe.Pipeline.Storage.Internal;

/// <summary>The retry policy for blob requests: exponential backoff with jitter on transient faults only.</summary>
internal static class BlobRetry
{
    /// <summary>Whether an HTTP status is worth retrying (408, 429, 500, 502, 503, 504).</summary>
    public static bool IsTransientStatus(HttpStatusCode status) => (int)status is 408 or 429 or 500 or 502 or 503 or 504;

    /// <summary>Whether an exception is a transient fault, given the caller's token.</summary>
    public static bool IsTransientException(Exception? exception, CancellationToken callerToken) => exception switch
    {
        null => false,
        HttpRequestException => true,
        TimeoutRejectedException => true,
        TimeoutException => true,
        IOException => true,
        OperationCanceledException => !callerToken.IsCancellationRequested,
        _ => false,
    };

    /// <summary>Builds the pipeline: retry (outer) around a per-attempt timeout (inner).</summary>
    public static ResiliencePipeline<HttpResponseMessage> Build(AzureBlobStoreOptions options, Action<string, int, string> onRetry, TimeProvider timeProvider)
    {
        var builder = new ResiliencePipelineBuilder<HttpResponseMessage> { TimeProvider = timeProvider };
        if (options.MaxRetryAttempts > 0)
        {
            builder.AddRetry(new RetryStrategyOptions<HttpResponseMessage>
            {
                MaxRetryAttempts = options.MaxRetryAttempts,
                Delay = options.RetryBaseDelay,
                MaxDelay = options.RetryMaxDelay,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                ShouldHandle = static args => ValueTask.FromResult(
                    args.Outcome.Result is { } response ? IsTransientStatus(response.StatusCode) : IsTransientException(args.Outcome.Exception, args.Context.CancellationToken)),
                OnRetry = args =>
                {
                    var reason = args.Outcome.Result is { } response
                        ? $"HTTP {(int)response.StatusCode}"
                        : args.Outcome.Exception?.GetType().Name ?? "unknown";
                    args.Outcome.Result?.Dispose();
                    onRetry(args.Context.OperationKey ?? "request", args.AttemptNumber + 1, reason);
                    return default;
                },
            });
        }

        if (options.AttemptTimeout > TimeSpan.Zero && options.AttemptTimeout != Timeout.InfiniteTimeSpan)
        {
            builder.AddTimeout(options.AttemptTimeout);
        }

        return builder.Build();
    }
}

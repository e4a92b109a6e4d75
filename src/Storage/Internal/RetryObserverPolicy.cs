using Azure.Core;
using Azure.Core.Pipeline;

namespace TempMe.Pipeline.Storage.Internal;

/// <summary>
/// Sits inside the SDK's retry loop (per retry) and reports every retry it sees with the reason the previous attempt
/// failed ("HTTP 503", "TaskCanceledException"): the SDK retries, we only count, for metrics and tests. Sees no secrets:
/// it reports operation names and status codes, never URLs.
/// </summary>
internal sealed class RetryObserverPolicy(Action<string, int, string> onRetry) : HttpPipelinePolicy
{
    private const string LastOutcome = "tempme.last-outcome";

    /// <inheritdoc />
    public override void Process(HttpMessage message, ReadOnlyMemory<HttpPipelinePolicy> pipeline)
    {
        Before(message);
        try
        {
            ProcessNext(message, pipeline);
            After(message, null);
        }
        catch (Exception e)
        {
            After(message, e);
            throw;
        }
    }

    /// <inheritdoc />
    public override async ValueTask ProcessAsync(HttpMessage message, ReadOnlyMemory<HttpPipelinePolicy> pipeline)
    {
        Before(message);
        try
        {
            await ProcessNextAsync(message, pipeline).ConfigureAwait(false);
            After(message, null);
        }
        catch (Exception e)
        {
            After(message, e);
            throw;
        }
    }

    private void Before(HttpMessage message)
    {
        var retry = message.ProcessingContext.RetryNumber;
        if (retry > 0)
        {
            var reason = message.TryGetProperty(LastOutcome, out var last) && last is string text ? text : "unknown";
            onRetry(BlobOperationName.Of(message.Request), retry, reason);
        }
    }

    private static void After(HttpMessage message, Exception? error) =>
        message.SetProperty(LastOutcome, error is not null ? error.GetType().Name : message.HasResponse ? $"HTTP {message.Response.Status}" : "no answer");
}

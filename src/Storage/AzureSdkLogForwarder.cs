using System.Diagnostics.Tracing;
using Azure.Core.Diagnostics;
using Microsoft.Extensions.Logging;
using TempMe.Pipeline.Storage.Internal;
using TempMe.Pipeline.Contracts;

namespace TempMe.Pipeline.Storage;

/// <summary>
/// Forwards the Azure SDK's diagnostics (EventSources "Azure-Core", "Azure-Identity", "Azure-Storage-Blobs": failed
/// requests, retries, credential chain attempts) to an <see cref="ILoggerFactory"/>, category = the source name with dots (<c>Azure.Core</c>, <c>Azure.Identity</c>, ...).
/// The SDK already writes <c>sig=REDACTED</c> in the URLs it logs; every message is redacted once more here, so a
/// signature or account key never reaches a log even if an SDK message quoted one. Dispose to stop.
/// </summary>
public sealed class AzureSdkLogForwarder : IDisposable
{
    /// <summary>Answers the store expects and handles itself (a probe for a missing blob, an existing container, a failed precondition, a range past the end).</summary>
    private static readonly HashSet<int> ExpectedStatuses = [404, 409, 412, 416];

    private readonly AzureEventSourceListener _listener;

    /// <summary>Starts forwarding events at <paramref name="level"/> and above (default: warnings and errors), and retries at any level.</summary>
    public AzureSdkLogForwarder(ILoggerFactory loggerFactory, EventLevel level = EventLevel.Warning)
    {
        ArgumentNullException.ThrowIfNull(loggerFactory);

        // Retries are Informational in Azure.Core; listen that low so they can be forwarded, and filter the rest here.
        _listener = new AzureEventSourceListener(
            (e, message) =>
            {
                if (!ShouldForward(e, level))
                {
                    return;
                }

                var logger = loggerFactory.CreateLogger(e.EventSource.Name.Replace("-", ".", StringComparison.Ordinal));
                var logLevel = ToLogLevel(e.Level);
                if (logger.IsEnabled(logLevel))
                {
                    logger.Log(logLevel, new EventId(e.EventId, e.EventName), "{Message}", SecretRedaction.Redact(message));
                }
            },
            level > EventLevel.Informational ? level : EventLevel.Informational);
    }

    private static bool ShouldForward(EventWrittenEventArgs e, EventLevel level)
    {
        if (e.EventName == "RequestRetrying")
        {
            return true;
        }

        // Azure.Core reports every non-2xx answer as a Warning "ErrorResponse", also the ones the store expects.
        return e.Level <= level && !(e.EventName == "ErrorResponse" && StatusOf(e) is { } status && ExpectedStatuses.Contains(status));
    }

    private static int? StatusOf(EventWrittenEventArgs e)
    {
        var index = e.PayloadNames?.IndexOf("status") ?? -1;
        return index >= 0 && e.Payload is { } payload && index < payload.Count && payload[index] is int status ? status : null;
    }

    /// <inheritdoc />
    public void Dispose() => _listener.Dispose();

    private static LogLevel ToLogLevel(EventLevel level) => level switch
    {
        EventLevel.Critical => LogLevel.Critical,
        EventLevel.Error => LogLevel.Error,
        EventLevel.Warning => LogLevel.Warning,
        EventLevel.Informational => LogLevel.Information,
        _ => LogLevel.Debug,
    };
}

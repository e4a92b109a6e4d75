using System.Diagnostics.Tracing;
using Azure.Core.Diagnostics;
using Microsoft.Extensions.Logging;
using TempMe.Pipeline.Storage.Internal;

namespace TempMe.Pipeline.Storage;

/// <summary>
/// Forwards the Azure SDK's diagnostics (EventSources "Azure-Core", "Azure-Identity", "Azure-Storage-Blobs": failed
/// requests, retries, credential chain attempts) to an <see cref="ILoggerFactory"/>, category = the source name with dots (<c>Azure.Core</c>, <c>Azure.Identity</c>, ...).
/// The SDK already writes <c>sig=REDACTED</c> in the URLs it logs; every message is redacted once more here, so a
/// signature or account key never reaches a log even if an SDK message quoted one. Dispose to stop.
/// </summary>
public sealed class AzureSdkLogForwarder : IDisposable
{
    private readonly AzureEventSourceListener _listener;

    /// <summary>Starts forwarding events at <paramref name="level"/> and above (default: warnings and errors).</summary>
    public AzureSdkLogForwarder(ILoggerFactory loggerFactory, EventLevel level = EventLevel.Warning)
    {
        ArgumentNullException.ThrowIfNull(loggerFactory);
        _listener = new AzureEventSourceListener(
            (e, message) =>
            {
                var logger = loggerFactory.CreateLogger(e.EventSource.Name.Replace("-", ".", StringComparison.Ordinal));
                var logLevel = ToLogLevel(e.Level);
                if (logger.IsEnabled(logLevel))
                {
                    logger.Log(logLevel, new EventId(e.EventId, e.EventName), "{Message}", Redaction.Redact(message));
                }
            },
            level);
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

using System.Diagnostics.Tracing;
using System.Text;
using Azure.Core.Diagnostics;
using Microsoft.Extensions.Logging;
using TempMe.Pipeline.Storage.Internal;
using TempMe.Pipeline.Storage.Tests.Support;

namespace TempMe.Pipeline.Storage.Tests;

/// <summary>
/// The Azure SDK logs every request URL (EventSource "Azure-Core", which hosts may forward to their logs): a SAS
/// signature must show as REDACTED there, in successful requests, retried 503s and refused writes alike.
/// </summary>
public sealed class SdkLogRedactionTests
{
    [Fact]
    public async Task Sdk_request_logs_and_store_errors_never_show_the_sas_signature()
    {
        var owner = await Azurite.CreateStoreAsync();
        try
        {
            var account = Azurite.Account;
            var sas = SasBuilder.CreateContainerSas(account.AccountName, account.AccountKey!, owner.Container, "rl", DateTimeOffset.UtcNow.AddHours(1), DateTimeOffset.UtcNow.AddMinutes(-5));
            var sig = Uri.UnescapeDataString(sas.Split('&').Single(p => p.StartsWith("sig=", StringComparison.Ordinal))["sig=".Length..]);
            await owner.WriteAsync("v/a.bin", new MemoryStream([1, 2, 3]), CancellationToken.None);

            var log = new StringBuilder();
            using (new AzureEventSourceListener((e, message) => { lock (log) { log.Append(e.EventSource.Name).Append(": ").AppendLine(message); } }, EventLevel.Verbose))
            {
                await using var proxy = new FaultProxy(account.BlobEndpoint, failures: 1);
                var store = BlobStoreFactory.Open($"{proxy.Endpoint}{owner.Container}?{sas}", null);
                await using (var read = await store.OpenReadAsync("v/a.bin", CancellationToken.None))
                {
                    await read.CopyToAsync(Stream.Null);
                }

                await foreach (var unused in store.ListAsync(string.Empty, CancellationToken.None))
                {
                }

                var refused = await Assert.ThrowsAsync<UnauthorizedAccessException>(() => store.WriteAsync("v/b.bin", new MemoryStream([4]), CancellationToken.None));
                Assert.DoesNotContain(sig, refused.ToString(), StringComparison.Ordinal);
                Assert.DoesNotContain(Uri.EscapeDataString(sig), refused.ToString(), StringComparison.Ordinal);
                Assert.Equal(1, proxy.Failed);
            }

            var text = log.ToString();
            Assert.Contains("sig=REDACTED", text, StringComparison.Ordinal); // the URLs were logged, redacted
            Assert.Contains("503", text, StringComparison.Ordinal); // so was the retried fault
            Assert.DoesNotContain(sig, text, StringComparison.Ordinal);
            Assert.DoesNotContain(Uri.EscapeDataString(sig), text, StringComparison.Ordinal);
        }
        finally
        {
            await owner.DeleteContainerAsync(CancellationToken.None);
        }
    }

    [Fact]
    public async Task The_log_forwarder_hands_sdk_events_to_the_logger_factory_without_the_signature()
    {
        var owner = await Azurite.CreateStoreAsync();
        try
        {
            var account = Azurite.Account;
            var sas = SasBuilder.CreateContainerSas(account.AccountName, account.AccountKey!, owner.Container, "rl", DateTimeOffset.UtcNow.AddHours(1));
            var sig = Uri.UnescapeDataString(sas.Split('&').Single(p => p.StartsWith("sig=", StringComparison.Ordinal))["sig=".Length..]);
            var sink = new SinkLoggerFactory();
            using (new AzureSdkLogForwarder(sink, EventLevel.Informational))
            {
                var store = BlobStoreFactory.Open($"{account.BlobEndpoint}{owner.Container}?{sas}", null);
                await Assert.ThrowsAsync<UnauthorizedAccessException>(() => store.WriteAsync("denied.bin", new MemoryStream([1]), CancellationToken.None));
            }

            var lines = sink.Lines;
            Assert.Contains(lines, l => l.StartsWith("Azure.Core Information", StringComparison.Ordinal) && l.Contains("denied.bin", StringComparison.Ordinal) && l.Contains("sig=REDACTED", StringComparison.Ordinal));
            Assert.Contains(lines, l => l.StartsWith("Azure.Core Warning", StringComparison.Ordinal) && l.Contains("403", StringComparison.Ordinal));
            Assert.DoesNotContain(lines, l => l.Contains(sig, StringComparison.Ordinal) || l.Contains(Uri.EscapeDataString(sig), StringComparison.Ordinal));
        }
        finally
        {
            await owner.DeleteContainerAsync(CancellationToken.None);
        }
    }

    [Fact]
    public async Task The_log_forwarder_reports_retries_but_not_the_misses_the_store_expects()
    {
        var owner = await Azurite.CreateStoreAsync();
        try
        {
            var account = Azurite.Account;
            await owner.WriteAsync("v/a.bin", new MemoryStream([1, 2, 3]), CancellationToken.None);
            var sas = SasBuilder.CreateContainerSas(account.AccountName, account.AccountKey!, owner.Container, "rdl", DateTimeOffset.UtcNow.AddHours(1), DateTimeOffset.UtcNow.AddMinutes(-5));
            var sink = new SinkLoggerFactory();
            using (new AzureSdkLogForwarder(sink))
            {
                // The account key is only sent to its own endpoint, so the store reaches Azurite through the fault proxy with a SAS.
                await using var proxy = new FaultProxy(account.BlobEndpoint, failures: 1);
                var store = BlobStoreFactory.Open($"{proxy.Endpoint}{owner.Container}?{sas}", null);
                await using (var read = await store.OpenReadAsync("v/a.bin", CancellationToken.None))
                {
                    await read.CopyToAsync(Stream.Null);
                }

                Assert.Equal(1, proxy.Failed);
                await store.DeleteAsync("v/never-written.bin", CancellationToken.None); // 404, handled by the store
                await Assert.ThrowsAsync<FileNotFoundException>(() => store.OpenReadAsync("v/never-written.bin", CancellationToken.None));
            }

            var lines = sink.Lines;
            Assert.Contains(lines, l => l.Contains("[RequestRetrying]", StringComparison.Ordinal));
            Assert.DoesNotContain(lines, l => l.Contains("[ErrorResponse]", StringComparison.Ordinal) && l.Contains("404", StringComparison.Ordinal));
        }
        finally
        {
            await owner.DeleteContainerAsync(CancellationToken.None);
        }
    }

    /// <summary>A logger factory that keeps every line (a sink to read the forwarded logs back, not a mock of a dependency).</summary>
    private sealed class SinkLoggerFactory : ILoggerFactory
    {
        private readonly List<string> _lines = [];

        public IReadOnlyList<string> Lines
        {
            get
            {
                lock (_lines)
                {
                    return _lines.ToList();
                }
            }
        }

        public void AddProvider(ILoggerProvider provider)
        {
        }

        public ILogger CreateLogger(string categoryName) => new Sink(this, categoryName);

        public void Dispose()
        {
        }

        private sealed class Sink(SinkLoggerFactory owner, string category) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state)
                where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            {
                lock (owner._lines)
                {
                    owner._lines.Add($"{category} {logLevel} [{eventId.Name}] {formatter(state, exception)}");
                }
            }
        }
    }
}

using System.Diagnostics.Tracing;
using System.Text;
using Azure.Core.Diagnostics;
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
}

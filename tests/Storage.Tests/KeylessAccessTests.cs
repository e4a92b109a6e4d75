using Azure.Identity;
using TempMe.Pipeline.Storage.Internal;
using TempMe.Pipeline.Testing;

namespace TempMe.Pipeline.Storage.Tests;

/// <summary>Keyless access: a store on a token credential asks Entra ID first and sends nothing when no identity is there.</summary>
public sealed class KeylessAccessTests
{
    [Fact]
    public async Task Without_an_identity_the_store_fails_with_the_fixes_and_sends_no_request()
    {
        using var service = new CapturingListener();

        // The real DefaultAzureCredential, narrowed to the sources a pod uses (environment, workload identity) so that a
        // developer's az login or a CI VM's managed identity cannot make this machine-dependent; neither is configured here.
        var credential = new DefaultAzureCredential(new DefaultAzureCredentialOptions
        {
            ExcludeManagedIdentityCredential = true,
            ExcludeAzureCliCredential = true,
            ExcludeAzurePowerShellCredential = true,
            ExcludeAzureDeveloperCliCredential = true,
            ExcludeVisualStudioCredential = true,
            ExcludeVisualStudioCodeCredential = true,
            ExcludeInteractiveBrowserCredential = true,
            WorkloadIdentityClientId = null,
        });
        var store = new AzureBlobStore(
            new Uri($"https://127.0.0.1:{service.Port}/acct/"),
            "videos",
            string.Empty,
            BlobCredential.FromToken("acct", credential),
            new AzureBlobStoreOptions { MaxRetryAttempts = 1, RetryBaseDelay = TimeSpan.FromMilliseconds(10) });

        var ex = await Assert.ThrowsAsync<UnauthorizedAccessException>(() => store.GetPropertiesAsync("clip.mp4", CancellationToken.None));

        Assert.Contains("No Entra ID token", ex.Message, StringComparison.Ordinal);
        Assert.Contains("workload identity", ex.Message, StringComparison.Ordinal);
        Assert.Contains("az login", ex.Message, StringComparison.Ordinal);
        Assert.Equal(0, service.Connections);
        Assert.Equal("Entra ID", store.CredentialKind);
    }

    [Fact]
    public void Tokens_go_only_to_azure_blob_hosts_over_https()
    {
        Assert.True(EndpointPolicy.AllowsTokenTo(new Uri("https://acct.blob.core.windows.net/"), "acct"));
        Assert.True(EndpointPolicy.AllowsTokenTo(new Uri("https://acct.blob.core.usgovcloudapi.net/"), "acct"));
        Assert.False(EndpointPolicy.AllowsTokenTo(new Uri("http://acct.blob.core.windows.net/"), "acct"));
        Assert.False(EndpointPolicy.AllowsTokenTo(new Uri("https://acct.blob.core.windows.net.evil.example/"), "acct"));
        Assert.False(EndpointPolicy.AllowsTokenTo(new Uri("https://other.blob.core.windows.net/"), "acct"));
        Assert.False(EndpointPolicy.AllowsTokenTo(new Uri("https://127.0.0.1:10000/acct/"), "acct"));
    }
}

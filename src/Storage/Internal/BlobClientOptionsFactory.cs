using Azure.Core;
using Azure.Core.Pipeline;
using Azure.Storage.Blobs;

namespace TempMe.Pipeline.Storage.Internal;

/// <summary>The SDK client options for one store: its retry policy and network timeout from <see cref="AzureBlobStoreOptions"/>.</summary>
internal static class BlobClientOptionsFactory
{
    /// <summary>
    /// The newest blob service version Azurite 3.35 accepts. Development endpoints (loopback, path-style, the public
    /// Azurite key) get it so the SDK's newer default does not fail Azurite's API version check; Azure gets the SDK's default.
    /// </summary>
    public const BlobClientOptions.ServiceVersion AzuriteVersion = BlobClientOptions.ServiceVersion.V2025_11_05;

    /// <summary>Options for a client on <paramref name="endpoint"/>; <paramref name="onRetry"/> hears of every retry.</summary>
    public static BlobClientOptions Create(Uri endpoint, BlobCredential credential, AzureBlobStoreOptions options, Action<string, int, string> onRetry)
    {
        var clientOptions = IsDevelopment(endpoint, credential) ? new BlobClientOptions(AzuriteVersion) : new BlobClientOptions();
        clientOptions.Retry.Mode = RetryMode.Exponential;
        clientOptions.Retry.MaxRetries = options.MaxRetryAttempts;
        clientOptions.Retry.Delay = options.RetryBaseDelay;
        clientOptions.Retry.MaxDelay = options.RetryMaxDelay;
        clientOptions.Retry.NetworkTimeout = options.AttemptTimeout;
        clientOptions.Diagnostics.ApplicationId = "tempme";
        clientOptions.AddPolicy(new RetryObserverPolicy(onRetry), HttpPipelinePosition.PerRetry);
        return clientOptions;
    }

    private static bool IsDevelopment(Uri endpoint, BlobCredential credential) =>
        endpoint.IsLoopback || BlobAddress.IsPathStyleHost(endpoint) || EndpointPolicy.IsDevelopmentKey(credential.Key);
}

using System.Net.Sockets;
using TempMe.Pipeline.Storage.Internal;

namespace TempMe.Pipeline.Storage.Tests.Support;

/// <summary>The blob service the tests run against: <c>TEMPME_TEST_BLOB</c>, or Azurite's defaults on 127.0.0.1:10000.</summary>
internal static class Azurite
{
    public const string Variable = "TEMPME_TEST_BLOB";

    public const string DefaultConnectionString =
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;";

    private static readonly SemaphoreSlim Gate = new(1, 1);
    private static bool _reachable;

    public static string ConnectionString => Environment.GetEnvironmentVariable(Variable) is { Length: > 0 } value ? value : DefaultConnectionString;

    public static StorageConnectionString Account => StorageConnectionString.Parse(ConnectionString);

    /// <summary>Fails (never skips) with instructions when the service does not answer.</summary>
    public static async Task EnsureReachableAsync()
    {
        if (_reachable)
        {
            return;
        }

        await Gate.WaitAsync();
        try
        {
            if (_reachable)
            {
                return;
            }

            var endpoint = Account.BlobEndpoint;
            using var client = new TcpClient();
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(3));
            try
            {
                await client.ConnectAsync(endpoint.Host, endpoint.Port, cts.Token);
            }
            catch (Exception ex) when (ex is SocketException or OperationCanceledException)
            {
                throw new InvalidOperationException(
                    $"The blob service at {endpoint} is not reachable ({ex.Message}). These tests need Azurite (or set {Variable} to a connection string). Start it with: " +
                    "npm install --prefix /tmp/azurite azurite@3.35.0 && /tmp/azurite/node_modules/.bin/azurite-blob --blobHost 127.0.0.1 --blobPort 10000 --location /tmp/azurite/data --disableTelemetry --silent &",
                    ex);
            }

            _reachable = true;
        }
        finally
        {
            Gate.Release();
        }
    }

    /// <summary>A fresh container name for one test.</summary>
    public static string NewContainerName() => "t-" + Guid.NewGuid().ToString("N");

    /// <summary>A store on a new, created container.</summary>
    public static async Task<AzureBlobStore> CreateStoreAsync(string? prefix = null, AzureBlobStoreOptions? options = null, string? container = null)
    {
        await EnsureReachableAsync();
        var store = AzureBlobStore.FromConnectionString(ConnectionString, container ?? NewContainerName(), prefix, options);
        try
        {
            await store.EnsureContainerAsync(CancellationToken.None);
        }
        catch (UnauthorizedAccessException ex)
        {
            throw new InvalidOperationException(
                $"The blob service refused the account key from {(Environment.GetEnvironmentVariable(Variable) is { Length: > 0 } ? Variable : "the built-in Azurite default")}. " +
                "Azurite's well-known devstoreaccount1 key ends in '...Fq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=='.",
                ex);
        }

        return store;
    }
}

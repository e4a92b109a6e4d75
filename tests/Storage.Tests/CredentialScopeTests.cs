using TempMe.Pipeline.Storage.Tests.Support;
using TempMe.Pipeline.Testing;

namespace TempMe.Pipeline.Storage.Tests;

/// <summary>
/// The account key signs requests only to its own endpoint, and credentials cross the network over https only
/// (plain http just for loopback Azurite or its public development key).
/// </summary>
public sealed class CredentialScopeTests
{
    private const string Key = "dGhpcy1pcy1ub3QtdGhlLWF6dXJpdGUta2V5LWJ1dC1hLXJlYWwtc2VjcmV0LTAwMDE=";
    private const string CloudCs = "DefaultEndpointsProtocol=https;AccountName=myacct;AccountKey=" + Key + ";EndpointSuffix=core.windows.net";

    [Theory]
    [InlineData("http://127.0.0.1:{port}/{account}/videos/in")]
    [InlineData("http://localhost:{port}/{account}/videos")]
    [InlineData("http://{account}.blob.localhost:{port}/videos")]
    public async Task A_url_naming_the_account_on_another_host_gets_no_signed_request_and_a_clear_error(string template)
    {
        await Azurite.EnsureReachableAsync();
        using var impostor = new CapturingListener();
        var account = Azurite.Account.AccountName;
        var url = template.Replace("{port}", impostor.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal)
            .Replace("{account}", account, StringComparison.Ordinal);

        ArgumentException? refused = null;
        try
        {
            var store = BlobStoreFactory.Open(url, Azurite.ConnectionString, new AzureBlobStoreOptions { MaxRetryAttempts = 0 });
            await store.GetPropertiesAsync("probe.bin", CancellationToken.None);
        }
        catch (ArgumentException e)
        {
            refused = e;
        }
        catch (Exception e) when (e is BlobStorageException or HttpRequestException)
        {
            // Only reached when the request went out: the assertions below say what the impostor saw.
        }

        Assert.All(impostor.Requests, head => Assert.DoesNotContain("SharedKey", head, StringComparison.OrdinalIgnoreCase));
        Assert.Equal(0, impostor.Connections);
        Assert.NotNull(refused);
        Assert.Contains("not the endpoint of account", refused.Message, StringComparison.Ordinal);
        Assert.Contains("az://CONTAINER/PREFIX", refused.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(Convert.ToBase64String(Azurite.Account.AccountKey!), refused.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("https://myacct.blob.evil.example/videos")]
    [InlineData("https://myacct.blob.core.windows.net.evil.example/videos")]
    [InlineData("http://10.1.2.3:10000/myacct/videos")]
    [InlineData("https://203.0.113.9/myacct/videos")]
    public void The_cloud_key_is_refused_for_look_alike_hosts(string url)
    {
        var ex = Assert.Throws<ArgumentException>(() => BlobStoreFactory.Open(url, CloudCs));
        Assert.Contains("only sent to its own endpoint", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(Key, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_key_still_opens_its_own_endpoints()
    {
        Assert.Equal("myacct", Assert.IsType<AzureBlobStore>(BlobStoreFactory.Open("https://myacct.blob.core.windows.net/videos/x", CloudCs)).AccountName);
        const string custom = "AccountName=myacct;AccountKey=" + Key + ";BlobEndpoint=https://storage.example.org/myacct";
        Assert.Equal("videos", Assert.IsType<AzureBlobStore>(BlobStoreFactory.Open("https://storage.example.org/myacct/videos/p", custom)).Container);
        Assert.Equal("videos", Assert.IsType<AzureBlobStore>(BlobStoreFactory.Open("https://myacct.blob.core.windows.net/videos", custom)).Container);
        Assert.Equal("videos", Assert.IsType<AzureBlobStore>(BlobStoreFactory.Open("az://videos", custom)).Container);
    }

    [Theory]
    [InlineData("DefaultEndpointsProtocol=http;AccountName=myacct;AccountKey=" + Key)]
    [InlineData("AccountName=myacct;AccountKey=" + Key + ";BlobEndpoint=http://10.0.0.7:10000/myacct")]
    [InlineData("AccountName=myacct;AccountKey=" + Key + ";BlobEndpoint=http://storage.example.org/myacct")]
    [InlineData("BlobEndpoint=http://storage.example.org/myacct;SharedAccessSignature=sv=1&sig=SECRETSIG")]
    public void A_secret_over_plain_http_to_a_remote_host_is_refused(string connectionString)
    {
        var ex = Assert.Throws<ArgumentException>(() => BlobStoreFactory.Open("az://videos", connectionString));
        Assert.Contains("Use https", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(Key, ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("SECRETSIG", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_sas_url_over_plain_http_to_a_remote_host_is_refused_and_loopback_azurite_is_not()
    {
        var ex = Assert.Throws<ArgumentException>(() => BlobStoreFactory.Open("http://10.1.2.3:10000/acct/videos?sv=1&sig=SECRETSIG", null));
        Assert.Contains("Use https", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("SECRETSIG", ex.Message, StringComparison.Ordinal);
        Assert.IsType<AzureBlobStore>(BlobStoreFactory.Open("http://127.0.0.1:10000/acct/videos?sv=1&sig=SECRETSIG", null));
    }

    [Fact]
    public void Azurite_with_its_public_development_key_may_use_http_on_a_named_host()
    {
        // compose.yaml and the dev overlay reach Azurite as http://azurite:10000: its key is public, nothing leaks.
        var cs = "AccountName=devstoreaccount1;AccountKey=" + StorageConnectionStringKey() + ";BlobEndpoint=http://azurite:10000/devstoreaccount1";
        Assert.Equal("videos", Assert.IsType<AzureBlobStore>(BlobStoreFactory.Open("http://azurite:10000/devstoreaccount1/videos/p", cs)).Container);
    }

    private static string StorageConnectionStringKey() => Internal.StorageConnectionString.DevelopmentAccountKey;
}

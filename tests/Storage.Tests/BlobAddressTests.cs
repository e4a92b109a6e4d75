using TempMe.Pipeline.Storage.Internal;
using TempMe.Pipeline.Contracts;

namespace TempMe.Pipeline.Storage.Tests;

/// <summary>Truth table of storage addresses: every accepted form and the bad ones.</summary>
public sealed class BlobAddressTests
{
    private const string Key = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
    private const string AzuriteCs = "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=" + Key + ";BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;";
    private const string CloudCs = "DefaultEndpointsProtocol=https;AccountName=myacct;AccountKey=" + Key + ";EndpointSuffix=core.windows.net";

    [Theory]
    // address, account, endpoint, container, prefix, hasSas
    [InlineData("https://myacct.blob.core.windows.net/videos", "myacct", "https://myacct.blob.core.windows.net/", "videos", "", false)]
    [InlineData("https://myacct.blob.core.windows.net/videos/", "myacct", "https://myacct.blob.core.windows.net/", "videos", "", false)]
    [InlineData("https://MyAcct.blob.core.windows.net/videos/2024/batch-1", "myacct", "https://myacct.blob.core.windows.net/", "videos", "2024/batch-1/", false)]
    [InlineData("https://myacct.blob.core.windows.net/videos/in%20box/?sv=2021-08-06&sr=c&sp=rl&se=2030-01-01T00%3A00%3A00Z&sig=abc%2Bdef%3D", "myacct", "https://myacct.blob.core.windows.net/", "videos", "in box/", true)]
    [InlineData("https://acct2.blob.core.chinacloudapi.cn/c01", "acct2", "https://acct2.blob.core.chinacloudapi.cn/", "c01", "", false)]
    [InlineData("http://127.0.0.1:10000/devstoreaccount1/videos/pre", "devstoreaccount1", "http://127.0.0.1:10000/devstoreaccount1/", "videos", "pre/", false)]
    [InlineData("http://localhost:10000/devstoreaccount1/videos", "devstoreaccount1", "http://localhost:10000/devstoreaccount1/", "videos", "", false)]
    [InlineData("http://[::1]:10000/devstoreaccount1/videos/a/b/", "devstoreaccount1", "http://[::1]:10000/devstoreaccount1/", "videos", "a/b/", false)]
    [InlineData("http://10.1.2.3:10000/acct/$root", "acct", "http://10.1.2.3:10000/acct/", "$root", "", false)]
    public void Azure_urls_parse(string address, string account, string endpoint, string container, string prefix, bool hasSas)
    {
        var parsed = BlobAddress.Parse(address);
        Assert.Equal(BlobAddressKind.AzureBlob, parsed.Kind);
        Assert.False(parsed.IsShortForm);
        Assert.Equal(account, parsed.AccountName);
        Assert.Equal(endpoint, parsed.ServiceEndpoint!.ToString());
        Assert.Equal(container, parsed.Container);
        Assert.Equal(prefix, parsed.Prefix);
        Assert.Equal(hasSas, parsed.HasSas);
        Assert.DoesNotContain("abc", parsed.ToString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("az://videos", "videos", "")]
    [InlineData("az://videos/", "videos", "")]
    [InlineData("AZ://videos/run-1/part", "videos", "run-1/part/")]
    [InlineData("az://videos/run-1/part/", "videos", "run-1/part/")]
    public void Short_form_parses(string address, string container, string prefix)
    {
        var parsed = BlobAddress.Parse(address);
        Assert.Equal(BlobAddressKind.AzureBlob, parsed.Kind);
        Assert.True(parsed.IsShortForm);
        Assert.Null(parsed.AccountName);
        Assert.Null(parsed.ServiceEndpoint);
        Assert.Equal(container, parsed.Container);
        Assert.Equal(prefix, parsed.Prefix);
    }

    [Theory]
    [InlineData("/data/videos", "/data/videos")]
    [InlineData("/data/videos/", "/data/videos")]
    [InlineData("file:///data/videos", "/data/videos")]
    [InlineData("file://localhost/data/videos", "/data/videos")]
    [InlineData("file:///data/my%20videos", "/data/my videos")]
    public void Absolute_local_paths_parse(string address, string path)
    {
        var parsed = BlobAddress.Parse(address);
        Assert.Equal(BlobAddressKind.LocalFolder, parsed.Kind);
        Assert.Equal(Path.GetFullPath(path).TrimEnd('/'), parsed.LocalPath);
    }

    [Theory]
    [InlineData("videos")]
    [InlineData("./videos")]
    [InlineData("../videos/in")]
    [InlineData("a folder with spaces")]
    public void Relative_local_paths_resolve_against_the_current_folder(string address)
    {
        var parsed = BlobAddress.Parse(address);
        Assert.Equal(BlobAddressKind.LocalFolder, parsed.Kind);
        Assert.Equal(Path.TrimEndingDirectorySeparator(Path.GetFullPath(address)), parsed.LocalPath);
    }

    [Theory]
    [InlineData("", "empty")]
    [InlineData("   ", "empty")]
    [InlineData("s3://bucket/prefix", "unsupported scheme 's3://'")]
    [InlineData("ftp://host/x", "unsupported scheme")]
    [InlineData("az://", "no container")]
    [InlineData("az:///prefix", "no container")]
    [InlineData("az://Videos", "not a valid container name")]
    [InlineData("az://ab", "not a valid container name")]
    [InlineData("az://bad_name/x", "not a valid container name")]
    [InlineData("az://a--b/x", "not a valid container name")]
    [InlineData("az://videos?sv=1&sig=x", "take none")]
    [InlineData("az://videos/../etc", "invalid prefix")]
    [InlineData("https://myacct.blob.core.windows.net", "no container")]
    [InlineData("https://myacct.blob.core.windows.net/", "no container")]
    [InlineData("https://example.com/videos", "not an Azure Blob URL")]
    [InlineData("https://myacct.blob.core.windows.net/videos?foo=bar", "not a SAS")]
    [InlineData("https://user:pw@myacct.blob.core.windows.net/videos", "user info")]
    [InlineData("http://127.0.0.1:10000/", "without the account")]
    [InlineData("http://127.0.0.1:10000/devstoreaccount1", "no container")]
    [InlineData("http://127.0.0.1:10000/devstoreaccount1/UPPER", "not a valid container name")]
    [InlineData("file://server/share/videos", "remote host")]
    public void Bad_addresses_throw_ArgumentException_naming_the_problem_and_the_forms(string address, string problem)
    {
        var ex = Assert.ThrowsAny<ArgumentException>(() => BlobAddress.Parse(address));
        Assert.Contains(problem, ex.Message, StringComparison.Ordinal);
        Assert.Contains("Accepted forms", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Sas_signature_never_shows_in_errors_or_ToString()
    {
        var ex = Assert.ThrowsAny<ArgumentException>(() => BlobAddress.Parse("https://example.com/videos?sv=1&sig=SECRETSIG"));
        Assert.DoesNotContain("SECRETSIG", ex.Message, StringComparison.Ordinal);
        var parsed = BlobAddress.Parse("https://myacct.blob.core.windows.net/videos?sv=1&sig=SECRETSIG");
        Assert.DoesNotContain("SECRETSIG", parsed.ToString(), StringComparison.Ordinal);
        var store = BlobStoreFactory.Open("https://myacct.blob.core.windows.net/videos/p?sv=1&sig=SECRETSIG", null);
        Assert.Equal("https://myacct.blob.core.windows.net/videos/p/", store.DisplayName);
    }

    [Fact]
    public void Factory_opens_local_folders()
    {
        var store = BlobStoreFactory.Open("./some/out", null);
        var local = Assert.IsType<LocalFolderStore>(store);
        Assert.Equal(Path.GetFullPath("./some/out"), local.Root);
    }

    [Fact]
    public void Factory_opens_az_short_form_from_the_connection_string()
    {
        var store = Assert.IsType<AzureBlobStore>(BlobStoreFactory.Open("az://videos/in", AzuriteCs));
        Assert.Equal("http://127.0.0.1:10000/devstoreaccount1/videos/in/", store.DisplayName);
        Assert.Equal("in/", store.Prefix);
        Assert.Equal("devstoreaccount1", store.AccountName);

        var cloud = Assert.IsType<AzureBlobStore>(BlobStoreFactory.Open("az://videos", CloudCs));
        Assert.Equal("https://myacct.blob.core.windows.net/videos/", cloud.DisplayName);
    }

    [Fact]
    public void Factory_needs_a_connection_string_for_az_addresses()
    {
        var ex = Assert.Throws<ArgumentException>(() => BlobStoreFactory.Open("az://videos", null));
        Assert.Contains(BlobStoreFactory.ConnectionStringVariable, ex.Message, StringComparison.Ordinal);
        Assert.Contains("AZURE_STORAGE_CONNECTION_STRING", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Factory_uses_the_connection_string_key_for_urls_of_the_same_account()
    {
        var store = Assert.IsType<AzureBlobStore>(BlobStoreFactory.Open("https://myacct.blob.core.windows.net/videos/x", CloudCs));
        Assert.Equal("myacct", store.AccountName);
        Assert.Equal("x/", store.Prefix);

        var azurite = Assert.IsType<AzureBlobStore>(BlobStoreFactory.Open("http://127.0.0.1:10000/devstoreaccount1/videos", AzuriteCs));
        Assert.Equal("videos", azurite.Container);
    }

    [Fact]
    public void Factory_opens_azure_https_urls_without_credentials_keylessly()
    {
        // The key in the connection string belongs to another account: it is not used, the URL goes keyless (DefaultAzureCredential).
        var other = Assert.IsType<AzureBlobStore>(BlobStoreFactory.Open("https://other.blob.core.windows.net/videos", CloudCs));
        Assert.Equal("Entra ID", other.CredentialKind);
        Assert.Equal("other", other.AccountName);
        Assert.Equal("Entra ID", Assert.IsType<AzureBlobStore>(BlobStoreFactory.Open("https://myacct.blob.core.windows.net/videos", null)).CredentialKind);
        Assert.Equal("SharedKey", Assert.IsType<AzureBlobStore>(BlobStoreFactory.Open("https://myacct.blob.core.windows.net/videos", CloudCs)).CredentialKind);
        Assert.Equal("SAS", Assert.IsType<AzureBlobStore>(BlobStoreFactory.Open("https://myacct.blob.core.windows.net/videos?sv=1&sig=abc", CloudCs)).CredentialKind);
    }

    [Theory]
    [InlineData("http://10.1.2.3:10000/other/videos")]
    [InlineData("http://127.0.0.1:10000/other/videos")]
    [InlineData("https://203.0.113.9/other/videos")]
    [InlineData("https://other.blob.evil.example/videos")]
    [InlineData("http://other.blob.core.windows.net/videos")]
    public void Factory_refuses_urls_without_credentials_where_a_token_must_not_go(string url)
    {
        // An Entra ID token is only sent over https to an Azure blob host: any other host could replay it.
        var ex = Assert.Throws<ArgumentException>(() => BlobStoreFactory.Open(url, CloudCs));
        Assert.Contains("no credentials for account 'other'", ex.Message, StringComparison.Ordinal);
        Assert.Contains("Keyless access", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(Key, ex.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => BlobStoreFactory.Open(url, null));
    }

    [Fact]
    public void Factory_splits_custom_endpoint_urls_with_the_connection_string()
    {
        const string cs = "AccountName=acct;AccountKey=" + Key + ";BlobEndpoint=http://azurite:10000/acct";
        var store = Assert.IsType<AzureBlobStore>(BlobStoreFactory.Open("http://azurite:10000/acct/videos/p", cs));
        Assert.Equal("videos", store.Container);
        Assert.Equal("p/", store.Prefix);
        Assert.Equal("http://azurite:10000/acct/videos/p/", store.DisplayName);
    }

    [Theory]
    [InlineData("UseDevelopmentStorage=true", "devstoreaccount1", "http://127.0.0.1:10000/devstoreaccount1/", true, false)]
    [InlineData(AzuriteCs, "devstoreaccount1", "http://127.0.0.1:10000/devstoreaccount1/", true, false)]
    [InlineData(CloudCs, "myacct", "https://myacct.blob.core.windows.net/", true, false)]
    [InlineData("AccountName=myacct;AccountKey=" + Key, "myacct", "https://myacct.blob.core.windows.net/", true, false)]
    [InlineData("BlobEndpoint=https://sasacct.blob.core.windows.net/;SharedAccessSignature=sv=2021-08-06&sig=abc", "sasacct", "https://sasacct.blob.core.windows.net/", false, true)]
    public void Connection_strings_parse(string connectionString, string account, string endpoint, bool hasKey, bool hasSas)
    {
        var cs = StorageConnectionString.Parse(connectionString);
        Assert.Equal(account, cs.AccountName);
        Assert.Equal(endpoint, cs.BlobEndpoint.ToString());
        Assert.Equal(hasKey, cs.AccountKey is not null);
        Assert.Equal(hasSas, cs.Sas is not null);
        Assert.DoesNotContain(Key, cs.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("sig=abc", cs.ToString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("garbage")]
    [InlineData("AccountName=x")]
    [InlineData("AccountKey=" + Key)]
    [InlineData("AccountName=x;AccountKey=not-base64!")]
    [InlineData("AccountName=x;AccountKey=" + Key + ";DefaultEndpointsProtocol=ftp")]
    [InlineData("AccountName=x;AccountKey=" + Key + ";BlobEndpoint=notaurl")]
    public void Bad_connection_strings_throw_without_echoing_the_key(string connectionString)
    {
        var ex = Assert.ThrowsAny<ArgumentException>(() => StorageConnectionString.Parse(connectionString));
        Assert.DoesNotContain(Key, ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("not-base64!", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("https://a.blob.core.windows.net/c?sv=1&sig=abc%2B&se=2", "https://a.blob.core.windows.net/c?sv=1&sig=REDACTED&se=2")]
    [InlineData("AccountName=a;AccountKey=abc==;BlobEndpoint=x", "AccountName=a;AccountKey=REDACTED;BlobEndpoint=x")]
    [InlineData("SharedAccessSignature=sv=1&sig=zz;AccountName=a", "SharedAccessSignature=REDACTED;AccountName=a")]
    [InlineData("Host=db;Username=u;Password=hunter2;Database=d", "Host=db;Username=u;Password=REDACTED;Database=d")]
    [InlineData("{\\\"url\\\":\\\"https://a/c?sig=abc\\\"}", "{\\\"url\\\":\\\"https://a/c?sig=REDACTED\\\"}")]
    [InlineData("Password='hunter2';Database=d", "Password=REDACTED;Database=d")]
    [InlineData("Password=\"a;b\";Database=d", "Password=REDACTED;Database=d")]
    [InlineData("AccountKey=ab\\/cd\\u002B==;x", "AccountKey=REDACTED;x")]
    [InlineData("no secrets here", "no secrets here")]
    public void Redaction_removes_signatures_and_keys(string text, string expected)
    {
        Assert.Equal(expected, SecretRedaction.Redact(text));
    }
}

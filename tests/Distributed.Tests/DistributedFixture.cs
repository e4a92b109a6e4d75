using System.Text.Json;
using TempMe.Pipeline.Contracts;
using TempMe.Pipeline.Storage;
using TempMe.Pipeline.Testing;
using TempMe.Pipeline.Testing.Cluster;
using TempMe.Pipeline.Testing.Postgres;

namespace TempMe.Pipeline.Distributed.Tests;

/// <summary>Serialises the distributed tests: they share one PostgreSQL server (which some of them stop) and two CPU cores.</summary>
[CollectionDefinition(Name)]
public sealed class DistributedCollection : ICollectionFixture<DistributedFixture>
{
    /// <summary>Collection name.</summary>
    public const string Name = "distributed";
}

/// <summary>
/// Real PostgreSQL (TEMPME_TEST_PG, with TEMPME_TEST_PG_DATA and TEMPME_TEST_PG_BIN to stop and start it) and real
/// Azurite (TEMPME_TEST_BLOB). A missing service fails the tests with a clear message; nothing is skipped.
/// </summary>
public sealed class DistributedFixture : IDisposable
{
    public const string Token = "test-token-7f3a";

    public DistributedFixture()
    {
        BlobConnection = TestEnvironment.Require("TEMPME_TEST_BLOB", "the Azurite connection string (scripts/test.sh sets it)");
        Directory.CreateDirectory(LocalRoot);
        Videos = Path.Combine(Path.GetTempPath(), $"tempme-dist-videos-{Environment.ProcessId}");
        for (var i = 0; i < 40; i++)
        {
            TestVideos.MakeMp4(Path.Combine(Videos, $"clip-{i:D3}.mp4"), 1, hue: i * 9);
        }
    }

    public string BlobConnection { get; }

    /// <summary>The PostgreSQL server the tests share.</summary>
    public TestPostgres Postgres { get; } = new();

    /// <summary>40 one-second 160x120 clips.</summary>
    public string Videos { get; }

    /// <summary>Creates a fresh database and returns its connection string.</summary>
    public string CreateDatabase() => Postgres.CreateDatabase("tempme_test_");

    /// <summary>A new Azurite container holding the first <paramref name="count"/> clips (plus extra files) under <c>in/</c>.</summary>
    public async Task<(string Container, IBlobStore Input)> UploadAsync(int count, IReadOnlyDictionary<string, byte[]>? extra = null)
    {
        var container = $"dist-{Guid.NewGuid():N}"[..24];
        var store = Store(container, "in/");
        await BlobStoreFactory.EnsureExistsAsync(store, CancellationToken.None);
        foreach (var file in Directory.EnumerateFiles(Videos).Order(StringComparer.Ordinal).Take(count))
        {
            await using var stream = File.OpenRead(file);
            await store.WriteAsync(Path.GetFileName(file), stream, CancellationToken.None);
        }

        foreach (var (name, bytes) in extra ?? new Dictionary<string, byte[]>())
        {
            using var stream = new MemoryStream(bytes);
            await store.WriteAsync(name, stream, CancellationToken.None);
        }

        return (container, store);
    }

    /// <summary>The Azurite address of a container prefix, as jobs name it.</summary>
    public static string Address(string container, string prefix) => UseLocalStorage
        ? Path.Combine(LocalRoot, container, prefix.TrimEnd('/')) + (prefix.EndsWith('/') ? "/" : "")
        : $"{BlobEndpoint.TrimEnd('/')}/{container}/{prefix}";

    /// <summary>
    /// TEMPME_DIST_STORAGE=local runs the same tests over local folders (under the silo's --allowed-roots) instead of Azurite,
    /// for machines where Azurite is unavailable; Azurite is the default.
    /// </summary>
    public static bool UseLocalStorage => string.Equals(Environment.GetEnvironmentVariable("TEMPME_DIST_STORAGE"), "local", StringComparison.OrdinalIgnoreCase);

    /// <summary>Root of the local-folder variant.</summary>
    public static string LocalRoot { get; } = Path.Combine(Path.GetTempPath(), $"tempme-dist-{Environment.ProcessId}");

    private IBlobStore Store(string container, string prefix) => UseLocalStorage
        ? new LocalFolderStore(Path.Combine(LocalRoot, container, prefix.TrimEnd('/')))
        : AzureBlobStore.FromConnectionString(BlobConnection, container, prefix);

    /// <summary>The BlobEndpoint of TEMPME_TEST_BLOB (path-style Azurite URL including the account).</summary>
    public static string BlobEndpoint =>
        (Environment.GetEnvironmentVariable("TEMPME_TEST_BLOB") ?? "").Split(';').Select(p => p.Trim())
            .FirstOrDefault(p => p.StartsWith("BlobEndpoint=", StringComparison.OrdinalIgnoreCase))?["BlobEndpoint=".Length..]
        ?? "http://127.0.0.1:10000/devstoreaccount1";

    /// <summary>A job over <c>in/</c> of <paramref name="container"/> into its <c>out/</c>, with the random ViT-B/32 at 12 frames.</summary>
    public static object JobSpec(string container, int shardSize, int maxAttempts = 3) => new
    {
        source = Address(container, "in"),
        output = Address(container, "out"),
        model = "random:vit-b32",
        frames = 12,
        shardSize,
        maxAttempts,
    };

    /// <summary>Every source listed in the output's part files, with repeats.</summary>
    public async Task<List<string>> ReadOutputSourcesAsync(string container)
    {
        var output = Store(container, "out/");
        var sources = new List<string>();
        await foreach (var item in output.ListAsync("embeddings/", CancellationToken.None))
        {
            if (!item.Name.EndsWith(".jsonl", StringComparison.Ordinal))
            {
                continue;
            }

            await using var stream = await output.OpenReadAsync(item.Name, CancellationToken.None);
            using var reader = new StreamReader(stream);
            while (await reader.ReadLineAsync() is { } line)
            {
                if (line.Length > 0)
                {
                    sources.Add(JsonDocument.Parse(line).RootElement.GetProperty("source").GetString()!);
                }
            }
        }

        return sources;
    }

    /// <summary>Reads a blob of the output as text; null when missing.</summary>
    public async Task<string?> ReadOutputTextAsync(string container, string name)
    {
        var output = Store(container, "out/");
        if (await output.GetPropertiesAsync(name, CancellationToken.None) is null)
        {
            return null;
        }

        await using var stream = await output.OpenReadAsync(name, CancellationToken.None);
        using var reader = new StreamReader(stream);
        return await reader.ReadToEndAsync();
    }

    /// <summary>Starts <c>tempme</c> with the test environment (blob connection string, API token unless told otherwise).</summary>
    public TempmeProcess Start(string[] args, bool withToken = true, IReadOnlyDictionary<string, string?>? environment = null) =>
        StartUnder([], args, withToken, environment);

    /// <summary>Starts <c>tempme</c> under <paramref name="prefix"/> (e.g. <c>ip netns exec NAME</c>) with the test environment.</summary>
    public TempmeProcess StartUnder(string[] prefix, string[] args, bool withToken = true, IReadOnlyDictionary<string, string?>? environment = null)
    {
        var variables = new Dictionary<string, string?>
        {
            ["AZURE_STORAGE_CONNECTION_STRING"] = BlobConnection,
            ["TEMPME_API_TOKEN"] = withToken ? Token : null,
            ["TEMPME_DB"] = null,
        };
        foreach (var (name, value) in environment ?? new Dictionary<string, string?>())
        {
            variables[name] = value;
        }

        return new(prefix, args, variables);
    }

    public TempmeProcess StartSilo(string db, int port, bool withToken = true, IReadOnlyDictionary<string, string?>? environment = null) =>
        Start(["silo", "--db", db, "--urls", $"http://127.0.0.1:{port}", "--lease-sweep-seconds", "1", "--allowed-roots", LocalRoot], withToken, environment);

    public TempmeProcess StartWorker(string db, string id) =>
        Start(["worker", "--db", db, "--lease-seconds", "10", "--heartbeat-seconds", "2", "--concurrency", "1", "--worker-id", id]);

    /// <summary>
    /// A cluster on a fresh database: <paramref name="silos"/> coordinators (started with <see cref="StartSilo"/> unless
    /// <paramref name="silo"/> says otherwise), ready, then <paramref name="workers"/> workers (<see cref="StartWorker"/>).
    /// </summary>
    public Task<TestCluster> StartClusterAsync(
        int silos = 1, int workers = 0, Func<string, int, TempmeProcess>? silo = null, Func<string, string, TempmeProcess>? worker = null, TimeSpan? readyTimeout = null) =>
        TestCluster.StartAsync(CreateDatabase(), silo ?? ((db, port) => StartSilo(db, port)), worker ?? StartWorker, silos, workers, readyTimeout);

    /// <summary>A cluster on a fresh database with nothing started yet, for tests that order the start-up themselves.</summary>
    public TestCluster NewCluster(Func<string, int, TempmeProcess>? silo = null, Func<string, string, TempmeProcess>? worker = null) =>
        new(CreateDatabase(), silo ?? ((db, port) => StartSilo(db, port)), worker ?? StartWorker);

    /// <summary>Stops PostgreSQL (fast shutdown).</summary>
    public void StopPostgres() => Postgres.Stop();

    /// <summary>Starts PostgreSQL again with the options scripts/test.sh uses.</summary>
    public void StartPostgres() => Postgres.Start();

    /// <summary>A free loopback port.</summary>
    public static int FreePort() => TestEnvironment.FreePort();

    public void Dispose()
    {
        try
        {
            Directory.Delete(Videos, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

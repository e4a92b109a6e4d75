using TempMe.Pipeline.Testing;
using TempMe.Pipeline.Testing.Cluster;
using TempMe.Pipeline.Testing.Postgres;

namespace TempMe.Pipeline.Dashboard.Tests;

/// <summary>Serialises the dashboard tests: they share PostgreSQL (one of them stops it) and two CPU cores.</summary>
[CollectionDefinition(Name)]
public sealed class DashboardCollection : ICollectionFixture<DashboardFixture>
{
    /// <summary>Collection name.</summary>
    public const string Name = "dashboard";
}

/// <summary>
/// Real PostgreSQL from TEMPME_TEST_PG (TEMPME_TEST_PG_DATA and TEMPME_TEST_PG_BIN to stop and start it), local-folder
/// storage under the silo's --allowed-roots, and Debian's chromium (CHROMIUM_PATH). A missing service fails, never skips.
/// Same approach as tests/Distributed.Tests/DistributedFixture.cs.
/// </summary>
public sealed class DashboardFixture : IDisposable
{
    public const string Token = "dash-token-51c2";

    public DashboardFixture()
    {
        Root = Path.Combine(Path.GetTempPath(), $"tempme-dash-{Environment.ProcessId}");
        Videos = Path.Combine(Root, "in");
        for (var i = 0; i < 8; i++)
        {
            TestVideos.MakeMp4(Path.Combine(Videos, $"clip-{i:D2}.mp4"), 1, hue: i * 40);
        }

        // Not a video: fails with a final error code, so the failures view has a row.
        File.WriteAllText(Path.Combine(Videos, "broken.mp4"), "this is not an mp4 file");
        Artifacts = Path.Combine(AppContext.BaseDirectory, "artifacts");
        Directory.CreateDirectory(Artifacts);
    }

    /// <summary>The PostgreSQL server the tests share.</summary>
    public TestPostgres Postgres { get; } = new();

    /// <summary>The silo's allowed root.</summary>
    public string Root { get; }

    /// <summary>8 one-second clips and one broken file.</summary>
    public string Videos { get; }

    /// <summary>Where screenshots go (printed by the tests).</summary>
    public string Artifacts { get; }

    public static string ChromiumPath => Environment.GetEnvironmentVariable("CHROMIUM_PATH") is { Length: > 0 } path ? path : "/usr/bin/chromium";

    /// <summary>Creates a fresh database and returns its connection string.</summary>
    public string CreateDatabase() => Postgres.CreateDatabase("tempme_dash_");

    public TempmeProcess StartSilo(string db, int port) => new(
        ["silo", "--db", db, "--urls", $"http://127.0.0.1:{port}", "--lease-sweep-seconds", "1", "--allowed-roots", Root],
        new Dictionary<string, string?>
        {
            ["TEMPME_API_TOKEN"] = Token,
            ["TEMPME_DB"] = null,

            // random:vit-b32 has no vocabulary beside it; the job page's search box needs one.
            ["TEMPME_CLIP_VOCAB"] = Path.Combine(RepoPaths.Shared, "reference", "clip-bpe"),
        });

    public static TempmeProcess StartWorker(string db, string id, int healthPort) => new(
        ["worker", "--db", db, "--lease-seconds", "6", "--heartbeat-seconds", "1", "--concurrency", "1", "--batch", "2", "--worker-id", id, "--health-urls", $"http://127.0.0.1:{healthPort}"],
        new Dictionary<string, string?> { ["TEMPME_DB"] = null });

    /// <summary>
    /// A cluster with nothing started yet, on <paramref name="database"/> (a fresh database when null); its silos start
    /// with <see cref="StartSilo"/> and its workers with <see cref="StartWorker"/> on a free health port unless told otherwise.
    /// </summary>
    public TestCluster NewCluster(string? database = null, Func<string, int, TempmeProcess>? silo = null, Func<string, string, TempmeProcess>? worker = null) =>
        new(database ?? CreateDatabase(), silo ?? StartSilo, worker ?? ((db, id) => StartWorker(db, id, FreePort())));

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
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

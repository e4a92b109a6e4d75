using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Npgsql;
using TempMe.Pipeline.Testing;

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
        AdminConnection = new NpgsqlConnectionStringBuilder(Require("TEMPME_TEST_PG", "a PostgreSQL connection string (scripts/test.sh sets it)")) { Pooling = false }.ToString();
        PgData = Require("TEMPME_TEST_PG_DATA", "the PostgreSQL data folder, so tests can stop and restart the server");
        PgBin = Require("TEMPME_TEST_PG_BIN", "the PostgreSQL bin folder (pg_ctl)");
        using (var conn = new NpgsqlConnection(AdminConnection))
        {
            try
            {
                conn.Open();
            }
            catch (Exception e) when (e is NpgsqlException or SocketException)
            {
                throw new InvalidOperationException($"PostgreSQL at TEMPME_TEST_PG is not reachable: {e.Message}. Start it as scripts/test.sh does.", e);
            }
        }

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

    public string AdminConnection { get; }

    public string PgData { get; }

    public string PgBin { get; }

    /// <summary>The silo's allowed root.</summary>
    public string Root { get; }

    /// <summary>8 one-second clips and one broken file.</summary>
    public string Videos { get; }

    /// <summary>Where screenshots go (printed by the tests).</summary>
    public string Artifacts { get; }

    public static string ChromiumPath => Environment.GetEnvironmentVariable("CHROMIUM_PATH") is { Length: > 0 } path ? path : "/usr/bin/chromium";

    public static string Require(string variable, string what) =>
        Environment.GetEnvironmentVariable(variable) is { Length: > 0 } value
            ? value
            : throw new InvalidOperationException($"{variable} is not set: it must hold {what}. Run the tests through scripts/test.sh or set it yourself.");

    /// <summary>Creates a fresh database and returns its connection string.</summary>
    public string CreateDatabase()
    {
        var name = $"tempme_dash_{Guid.NewGuid():N}";
        using (var conn = new NpgsqlConnection(AdminConnection))
        {
            conn.Open();
            using var cmd = new NpgsqlCommand($"CREATE DATABASE {name}", conn);
            cmd.ExecuteNonQuery();
        }

        return new NpgsqlConnectionStringBuilder(AdminConnection) { Database = name, Pooling = false }.ToString();
    }

    public TempmeProcess StartSilo(string db, int port) => new(
        ["silo", "--db", db, "--urls", $"http://127.0.0.1:{port}", "--lease-sweep-seconds", "1", "--allowed-roots", Root],
        new Dictionary<string, string?> { ["TEMPME_API_TOKEN"] = Token, ["TEMPME_DB"] = null });

    public static TempmeProcess StartWorker(string db, string id, int healthPort) => new(
        ["worker", "--db", db, "--lease-seconds", "6", "--heartbeat-seconds", "1", "--concurrency", "1", "--batch", "2", "--worker-id", id, "--health-urls", $"http://127.0.0.1:{healthPort}"],
        new Dictionary<string, string?> { ["TEMPME_DB"] = null });

    /// <summary>Stops PostgreSQL (fast shutdown).</summary>
    public void StopPostgres() => PgCtl("-D", PgData, "-m", "fast", "stop");

    /// <summary>Starts PostgreSQL again with the options scripts/test.sh uses.</summary>
    public void StartPostgres()
    {
        var root = Path.GetDirectoryName(Path.TrimEndingDirectorySeparator(PgData))!;
        var port = new NpgsqlConnectionStringBuilder(AdminConnection).Port;
        PgCtl("-D", PgData, "-l", Path.Combine(root, "server.log"), "-o", $"-c listen_addresses=127.0.0.1 -p {port} -k {root} -c fsync=off", "-w", "start");
    }

    private void PgCtl(params string[] args)
    {
        var pgCtl = Path.Combine(PgBin, "pg_ctl");
        if (Environment.UserName == "root")
        {
            TestVideos.Run("runuser", ["-u", "postgres", "--", pgCtl, .. args]);
        }
        else
        {
            TestVideos.Run(pgCtl, args);
        }
    }

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>Polls <paramref name="url"/> until it answers <paramref name="status"/>; fails with the processes' output.</summary>
    public static async Task WaitStatusAsync(HttpClient http, string url, HttpStatusCode status, TimeSpan timeout, params TempmeProcess[] processes)
    {
        var deadline = DateTime.UtcNow + timeout;
        var last = "no answer";
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                using var response = await http.GetAsync(url);
                last = $"{(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}";
                if (response.StatusCode == status)
                {
                    return;
                }
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
                last = e.Message;
            }

            await Task.Delay(200);
        }

        throw new TimeoutException($"{url} did not answer {(int)status} within {timeout}; last: {last}\n{Dump(processes)}");
    }

    public static string Dump(IEnumerable<TempmeProcess> processes) =>
        string.Join("\n", processes.Select(p => $"--- tempme {p.Name} (exited: {p.HasExited}) ---\n{p.Output}"));

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

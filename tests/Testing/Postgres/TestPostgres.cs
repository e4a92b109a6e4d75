using System.Net.Sockets;
using Npgsql;

namespace TempMe.Pipeline.Testing.Postgres;

/// <summary>
/// The real PostgreSQL server scripts/test.sh starts: TEMPME_TEST_PG to connect, TEMPME_TEST_PG_DATA and
/// TEMPME_TEST_PG_BIN to stop and start it for outage tests. Linked only into the test projects that use Npgsql.
/// </summary>
public sealed class TestPostgres
{
    /// <summary>Connects once, so an unreachable server fails the fixture with a clear message.</summary>
    public TestPostgres()
    {
        AdminConnection = new NpgsqlConnectionStringBuilder(TestEnvironment.Require("TEMPME_TEST_PG", "a PostgreSQL connection string, e.g. Host=127.0.0.1;Port=55432;Username=postgres;Database=postgres (scripts/test.sh sets it)")) { Pooling = false }.ToString();
        PgData = TestEnvironment.Require("TEMPME_TEST_PG_DATA", "the PostgreSQL data folder, so tests can stop and restart the server");
        PgBin = TestEnvironment.Require("TEMPME_TEST_PG_BIN", "the PostgreSQL bin folder (pg_ctl)");
        using var conn = new NpgsqlConnection(AdminConnection);
        try
        {
            conn.Open();
        }
        catch (Exception e) when (e is NpgsqlException or SocketException)
        {
            throw new InvalidOperationException($"PostgreSQL at TEMPME_TEST_PG is not reachable: {e.Message}. Start it as scripts/test.sh does.", e);
        }
    }

    /// <summary>Connection string of the server's admin database.</summary>
    public string AdminConnection { get; }

    /// <summary>The server's data folder.</summary>
    public string PgData { get; }

    /// <summary>The folder holding pg_ctl.</summary>
    public string PgBin { get; }

    /// <summary>Creates a fresh database named <paramref name="prefix"/> plus a GUID and returns its connection string.</summary>
    public string CreateDatabase(string prefix)
    {
        var name = $"{prefix}{Guid.NewGuid():N}";
        using (var conn = new NpgsqlConnection(AdminConnection))
        {
            conn.Open();
            using var cmd = new NpgsqlCommand($"CREATE DATABASE {name}", conn);
            cmd.ExecuteNonQuery();
        }

        return new NpgsqlConnectionStringBuilder(AdminConnection) { Database = name, Pooling = false }.ToString();
    }

    /// <summary>Stops the server (fast shutdown).</summary>
    public void Stop() => PgCtl("-D", PgData, "-m", "fast", "stop");

    /// <summary>Starts the server again with the options scripts/test.sh uses.</summary>
    public void Start()
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
}

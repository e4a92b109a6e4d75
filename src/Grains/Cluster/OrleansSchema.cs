using System.Globalization;
using Npgsql;
using TempMe.Pipeline.Ledger.Internal;

namespace TempMe.Pipeline.Grains.Cluster;

/// <summary>
/// Creates and upgrades the tables and named queries the Orleans ADO.NET providers (clustering, grain storage,
/// reminders) run on PostgreSQL: the embedded <c>Sql/OrleansPostgreSQL-00N-*.sql</c> scripts, versioned in their own
/// <c>orleans_schema_version</c> table so they live beside the ledger's migrations (or in a database of their own)
/// without changing the ledger's version numbers.
/// </summary>
public static class OrleansSchema
{
    /// <summary>The dialect prefix of the embedded scripts.</summary>
    internal const string Dialect = "OrleansPostgreSQL";

    // Not the ledger's key: the ledger and the Orleans schema may migrate at the same moment without waiting on each other.
    private const long MigrationLockKey = 0x7465_6D70_6D6F; // "tempmo"

    /// <summary>The embedded scripts, ordered by version; each one is idempotent on its own.</summary>
    public static IReadOnlyList<(int Version, string Sql)> Scripts => SqlScripts.Migrations(typeof(OrleansSchema).Assembly, Dialect);

    /// <summary>The newest Orleans schema version this build knows.</summary>
    public static int LatestVersion => SqlScripts.Migrations(typeof(OrleansSchema).Assembly, Dialect).Max(m => m.Version);

    /// <summary>
    /// Applies the pending scripts in one transaction under an advisory lock, so silos starting together do not race.
    /// Safe to call on every start; returns the schema version the database holds afterwards.
    /// </summary>
    public static async Task<int> MigrateAsync(string connectionString, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(connectionString);
        await using var conn = new NpgsqlConnection(connectionString);
        await conn.OpenAsync(cancellationToken);
        await using var tx = await conn.BeginTransactionAsync(cancellationToken);
        await ExecAsync(conn, tx, $"SELECT pg_advisory_xact_lock({MigrationLockKey})", cancellationToken);
        await ExecAsync(conn, tx, "CREATE TABLE IF NOT EXISTS orleans_schema_version (version integer PRIMARY KEY, applied timestamptz NOT NULL DEFAULT now())", cancellationToken);
        var current = await CurrentVersionAsync(conn, tx, cancellationToken);
        foreach (var (version, sql) in SqlScripts.Migrations(typeof(OrleansSchema).Assembly, Dialect).Where(m => m.Version > current))
        {
            await ExecAsync(conn, tx, sql, cancellationToken);
            await using var mark = new NpgsqlCommand("INSERT INTO orleans_schema_version (version) VALUES ($1)", conn, tx);
            mark.Parameters.Add(new NpgsqlParameter { Value = version });
            await mark.ExecuteNonQueryAsync(cancellationToken);
            current = version;
        }

        await tx.CommitAsync(cancellationToken);
        return current;
    }

    /// <summary>The Orleans schema version the database holds (0 when never migrated).</summary>
    public static async Task<int> VersionAsync(string connectionString, CancellationToken cancellationToken)
    {
        await using var conn = new NpgsqlConnection(connectionString);
        await conn.OpenAsync(cancellationToken);
        await using var exists = new NpgsqlCommand("SELECT to_regclass('orleans_schema_version') IS NOT NULL", conn);
        if (await exists.ExecuteScalarAsync(cancellationToken) is not true)
        {
            return 0;
        }

        return await CurrentVersionAsync(conn, null, cancellationToken);
    }

    private static async Task<int> CurrentVersionAsync(NpgsqlConnection conn, NpgsqlTransaction? tx, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand("SELECT COALESCE(MAX(version), 0) FROM orleans_schema_version", conn, tx);
        return Convert.ToInt32(await cmd.ExecuteScalarAsync(ct), CultureInfo.InvariantCulture);
    }

    private static async Task ExecAsync(NpgsqlConnection conn, NpgsqlTransaction tx, string sql, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(sql, conn, tx);
        await cmd.ExecuteNonQueryAsync(ct);
    }
}

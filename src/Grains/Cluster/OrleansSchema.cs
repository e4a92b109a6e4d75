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

    private const string VersionTable = "orleans_schema_version";

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
        var version = await PostgresMigrator.ApplyAsync(conn, tx, VersionTable, MigrationLockKey, Scripts, cancellationToken);
        await tx.CommitAsync(cancellationToken);
        return version;
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

        return await PostgresMigrator.VersionAsync(conn, null, VersionTable, cancellationToken);
    }
}

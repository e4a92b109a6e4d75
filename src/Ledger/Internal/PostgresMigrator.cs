using System.Globalization;
using Npgsql;

namespace TempMe.Pipeline.Ledger.Internal;

/// <summary>
/// Applies versioned SQL scripts inside a caller's transaction: takes an advisory lock (so processes starting together
/// do not race), keeps the applied versions in a table of their own, and runs each script newer than the highest one
/// there. The ledger and the Orleans schema each use their own table and lock key, so neither waits on the other.
/// </summary>
public static class PostgresMigrator
{
    /// <summary>Runs the pending <paramref name="scripts"/>; returns the version the database holds afterwards.</summary>
    /// <param name="conn">An open connection.</param>
    /// <param name="tx">The transaction the whole migration commits or rolls back in (the lock ends with it).</param>
    /// <param name="versionTable">The table recording applied versions; a fixed identifier of ours, never user input.</param>
    /// <param name="lockKey">The <c>pg_advisory_xact_lock</c> key that serializes migrations of this schema.</param>
    /// <param name="scripts">The scripts with their versions, in any order.</param>
    /// <param name="cancellationToken">Cancels the migration (the transaction then rolls back).</param>
    public static async Task<int> ApplyAsync(NpgsqlConnection conn, NpgsqlTransaction tx, string versionTable, long lockKey, IEnumerable<(int Version, string Sql)> scripts, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(conn);
        ArgumentNullException.ThrowIfNull(scripts);
        await ExecAsync(conn, tx, string.Create(CultureInfo.InvariantCulture, $"SELECT pg_advisory_xact_lock({lockKey})"), cancellationToken);
        await ExecAsync(conn, tx, $"CREATE TABLE IF NOT EXISTS {versionTable} (version integer PRIMARY KEY, applied timestamptz NOT NULL DEFAULT now())", cancellationToken);
        var current = await VersionAsync(conn, tx, versionTable, cancellationToken);
        foreach (var (version, sql) in scripts.Where(s => s.Version > current).OrderBy(s => s.Version))
        {
            await ExecAsync(conn, tx, sql, cancellationToken);
            await using var mark = new NpgsqlCommand($"INSERT INTO {versionTable} (version) VALUES ($1)", conn, tx);
            mark.Parameters.Add(new NpgsqlParameter { Value = version });
            await mark.ExecuteNonQueryAsync(cancellationToken);
            current = version;
        }

        return current;
    }

    /// <summary>The highest version recorded in <paramref name="versionTable"/> (0 when it holds none).</summary>
    public static async Task<int> VersionAsync(NpgsqlConnection conn, NpgsqlTransaction? tx, string versionTable, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(conn);
        await using var cmd = new NpgsqlCommand($"SELECT COALESCE(MAX(version), 0) FROM {versionTable}", conn, tx);
        return Convert.ToInt32(await cmd.ExecuteScalarAsync(cancellationToken), CultureInfo.InvariantCulture);
    }

    private static async Task ExecAsync(NpgsqlConnection conn, NpgsqlTransaction tx, string sql, CancellationToken cancellationToken)
    {
        await using var cmd = new NpgsqlCommand(sql, conn, tx);
        await cmd.ExecuteNonQueryAsync(cancellationToken);
    }
}

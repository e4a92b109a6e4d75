using Npgsql;

namespace TempMe.Pipeline.Distributed.Tests;

/// <summary>Reads the cluster's PostgreSQL tables directly, for what the API does not show (leases, attempts, membership).</summary>
internal static class Sql
{
    /// <summary>An open connection to <paramref name="db"/>.</summary>
    public static async Task<NpgsqlConnection> OpenAsync(string db)
    {
        var conn = new NpgsqlConnection(db);
        await conn.OpenAsync();
        return conn;
    }

    /// <summary>The single value <paramref name="sql"/> returns, as <typeparamref name="T"/>; default when it returns no row or NULL.</summary>
    public static async Task<T> ScalarAsync<T>(NpgsqlConnection conn, string sql)
    {
        await using var cmd = new NpgsqlCommand(sql, conn);
        var value = await cmd.ExecuteScalarAsync();
        return value is null or DBNull ? default! : (T)Convert.ChangeType(value, typeof(T), System.Globalization.CultureInfo.InvariantCulture);
    }
}

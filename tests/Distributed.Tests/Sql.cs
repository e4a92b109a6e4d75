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

    /// <summary>The single value <paramref name="sql"/> returns, as <typeparamref name="T"/>; fails the test when it returns no row or NULL.</summary>
    public static async Task<T> ScalarAsync<T>(NpgsqlConnection conn, string sql)
    {
        var value = await ReadAsync(conn, sql);
        Assert.False(value is null or DBNull, $"no value from: {sql}");
        return (T)Convert.ChangeType(value, typeof(T), System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>The single value <paramref name="sql"/> returns, as <typeparamref name="T"/>; default when it returns no row or NULL.</summary>
    public static async Task<T> ScalarOrDefaultAsync<T>(NpgsqlConnection conn, string sql) =>
        await ReadAsync(conn, sql) is { } value and not DBNull ? (T)Convert.ChangeType(value, typeof(T), System.Globalization.CultureInfo.InvariantCulture) : default!;

    private static async Task<object?> ReadAsync(NpgsqlConnection conn, string sql)
    {
        await using var cmd = new NpgsqlCommand(sql, conn);
        return await cmd.ExecuteScalarAsync();
    }
}

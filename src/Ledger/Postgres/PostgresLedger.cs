using System.Net.Sockets;
using Npgsql;
using Polly;
using TempMe.Pipeline.Contracts;
using TempMe.Pipeline.Ledger.Internal;

namespace TempMe.Pipeline.Ledger.Postgres;

/// <summary>
/// The distributed ledger over PostgreSQL: many jobs, per-video rows, shards claimed with
/// <c>FOR UPDATE SKIP LOCKED</c> in short transactions, leases renewed by heartbeats, and job counters kept in the
/// same transactions that change videos and shards. Every call runs as one transaction retried as a whole on
/// transient faults, so a PostgreSQL restart delays workers but loses or duplicates nothing.
/// </summary>
public sealed partial class PostgresLedger : IAsyncDisposable
{
    private const long MigrationLockKey = 0x7465_6D70_6D65; // "tempme"
    private const long OutputLockKey = 0x7465_6D70_6D66;

    private readonly NpgsqlDataSource _dataSource;
    private readonly ResiliencePipeline _retry;
    private readonly ResiliencePipeline _renewRetry;

    private PostgresLedger(NpgsqlDataSource dataSource, TimeSpan retryBudget, Action<Exception, TimeSpan>? onRetry)
    {
        _dataSource = dataSource;
        _retry = PostgresRetry.Create(retryBudget, onRetry);
        _renewRetry = PostgresRetry.Create(TimeSpan.FromTicks(Math.Max(TimeSpan.FromSeconds(1).Ticks, retryBudget.Ticks / 2)), onRetry);
    }

    /// <summary>
    /// Creates a ledger over <paramref name="connectionString"/> without touching the server.
    /// <paramref name="retryBudget"/> is how long one call keeps retrying transient faults (30 s by default).
    /// </summary>
    public static PostgresLedger Create(string connectionString, TimeSpan? retryBudget = null, Action<Exception, TimeSpan>? onRetry = null)
    {
        var builder = new NpgsqlDataSourceBuilder(connectionString);
        builder.ConnectionStringBuilder.ApplicationName ??= "tempme";
        if (builder.ConnectionStringBuilder.Timeout == 15)
        {
            builder.ConnectionStringBuilder.Timeout = 5;
        }

        return new PostgresLedger(builder.Build(), retryBudget ?? TimeSpan.FromSeconds(30), onRetry);
    }

    /// <summary>The newest schema version this build knows.</summary>
    public static int LatestSchemaVersion => SqlScripts.Migrations("PostgreSQL").Max(m => m.Version);

    /// <summary>
    /// Applies pending migrations in one transaction under an advisory lock, so two silos starting together do not race.
    /// Safe to call on every start.
    /// </summary>
    public Task MigrateAsync(CancellationToken cancellationToken) =>
        RunAsync((conn, tx, ct) => PostgresMigrator.ApplyAsync(conn, tx, "schema_version", MigrationLockKey, SqlScripts.Migrations("PostgreSQL"), ct), cancellationToken);

    /// <summary>Whether <paramref name="exception"/> is a transient database fault (server away, connection lost), which callers retry rather than blame on a job.</summary>
    public static bool IsTransientDatabaseError(Exception exception) => PostgresRetry.IsTransient(exception);

    /// <summary>Whether the database answers and holds the latest schema; never retries, for readiness probes.</summary>
    public async Task<bool> IsReadyAsync(CancellationToken cancellationToken)
    {
        try
        {
            await using var conn = await _dataSource.OpenConnectionAsync(cancellationToken);
            await using var cmd = new NpgsqlCommand("SELECT COALESCE(MAX(version), 0) FROM schema_version", conn) { CommandTimeout = 3 };
            var version = Convert.ToInt32(await cmd.ExecuteScalarAsync(cancellationToken), System.Globalization.CultureInfo.InvariantCulture);
            return version >= LatestSchemaVersion;
        }
        catch (Exception e) when (e is NpgsqlException or SocketException or TimeoutException or InvalidOperationException)
        {
            return false;
        }
    }

    /// <summary>
    /// A view of the ledger restricted to one job, as the shared <c>ShardPipeline</c> needs it: claims take only this
    /// job's shards and the embedding cache is keyed by <paramref name="modelKey"/> (see <see cref="JobRecord.ModelKey"/>).
    /// </summary>
    public IShardLedger ForJob(string jobId, string modelKey) => new PostgresJobLedger(this, jobId, modelKey);

    /// <inheritdoc />
    public ValueTask DisposeAsync() => _dataSource.DisposeAsync();

    /// <summary>Runs <paramref name="body"/> in one transaction on a fresh connection, retrying the whole transaction on transient faults.</summary>
    private async Task<T> RunAsync<T>(Func<NpgsqlConnection, NpgsqlTransaction, CancellationToken, Task<T>> body, CancellationToken cancellationToken, ResiliencePipeline? pipeline = null, bool commit = true)
    {
        return await (pipeline ?? _retry).ExecuteAsync(async ct =>
        {
            await using var conn = await _dataSource.OpenConnectionAsync(ct);
            await using var tx = await conn.BeginTransactionAsync(ct);
            var result = await body(conn, tx, ct);
            if (commit && !tx.IsCompleted())
            {
                await tx.CommitAsync(ct);
            }

            return result;
        }, cancellationToken);
    }

    private static NpgsqlCommand Cmd(NpgsqlConnection conn, NpgsqlTransaction? tx, string sql, params object?[] args)
    {
        var cmd = new NpgsqlCommand(sql, conn, tx);
        foreach (var arg in args)
        {
            cmd.Parameters.Add(new NpgsqlParameter { Value = arg ?? DBNull.Value });
        }

        return cmd;
    }

    private static async Task ExecAsync(NpgsqlConnection conn, NpgsqlTransaction tx, string sql, CancellationToken ct)
    {
        await using var cmd = Cmd(conn, tx, sql);
        await cmd.ExecuteNonQueryAsync(ct);
    }

    private static async Task<object?> ScalarAsync(NpgsqlConnection conn, NpgsqlTransaction tx, string sql, CancellationToken ct)
    {
        await using var cmd = Cmd(conn, tx, sql);
        return await cmd.ExecuteScalarAsync(ct);
    }

    private static VideoState ParseState(string text) => text switch
    {
        "pending" => VideoState.Pending,
        "done" => VideoState.Done,
        "failed" => VideoState.Failed,
        _ => throw new InvalidDataException($"Unknown video state '{text}' in the ledger."),
    };
}

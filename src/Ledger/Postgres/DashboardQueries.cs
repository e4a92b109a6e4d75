using Npgsql;

namespace TempMe.Pipeline.Ledger.Postgres;

/// <summary>A job row as the dashboard shows it.</summary>
/// <param name="Id">Job id.</param>
/// <param name="State">Job state (see <see cref="JobStates"/>).</param>
/// <param name="Source">Source address, its SAS signature redacted (the secret is in <c>job_secrets</c>, never read here).</param>
/// <param name="Output">Output address, redacted likewise.</param>
/// <param name="Model">Model spec, redacted likewise.</param>
/// <param name="Total">Listed videos.</param>
/// <param name="Done">Embedded videos.</param>
/// <param name="Failed">Finally failed videos.</param>
/// <param name="Pending">Videos not settled yet.</param>
/// <param name="Running">Pending videos in shards leased right now.</param>
/// <param name="ShardsTotal">Shards of the job.</param>
/// <param name="ShardsDone">Completed shards.</param>
/// <param name="Created">When it was submitted.</param>
/// <param name="Started">When its listing finished.</param>
/// <param name="Finished">When it reached a terminal state.</param>
/// <param name="Message">Why it failed or was cancelled.</param>
public sealed record DashboardJobRow(
    string Id, string State, string Source, string Output, string Model, long Total, long Done, long Failed, long Pending, long Running,
    long ShardsTotal, long ShardsDone, DateTimeOffset Created, DateTimeOffset? Started, DateTimeOffset? Finished, string? Message);

/// <summary>A worker row as the dashboard shows it; optional columns are null when the schema lacks them.</summary>
/// <param name="Id">Worker id.</param>
/// <param name="Host">Host name.</param>
/// <param name="Started">Process start.</param>
/// <param name="LastHeartbeat">Last report or claim.</param>
/// <param name="CurrentJob">The job it works on.</param>
/// <param name="CurrentShard">The shard it holds.</param>
/// <param name="VideosDone">Videos embedded since start.</param>
/// <param name="VideosFailed">Videos failed since start.</param>
/// <param name="DownloadSeconds">Seconds downloading, when the schema records it.</param>
/// <param name="DecodeSeconds">Seconds decoding (with downloads when <paramref name="DownloadSeconds"/> is null).</param>
/// <param name="EncodeSeconds">Seconds encoding.</param>
/// <param name="UploadSeconds">Seconds writing parts, when the schema records it.</param>
/// <param name="ShardsDone">Shards completed, when the schema records it.</param>
public sealed record DashboardWorkerRow(
    string Id, string Host, DateTimeOffset Started, DateTimeOffset LastHeartbeat, string? CurrentJob, long? CurrentShard,
    long VideosDone, long VideosFailed, double? DownloadSeconds, double DecodeSeconds, double EncodeSeconds, double? UploadSeconds, long? ShardsDone);

/// <summary>Queue figures over running jobs.</summary>
/// <param name="QueueDepth">Shards waiting for a worker: queued plus leased with an expired lease.</param>
/// <param name="ActiveLeases">Shards leased with a live lease.</param>
/// <param name="ExpiredLeases">Leases that ran out and were not taken back yet.</param>
/// <param name="Retries">Shard claims beyond each shard's first (after lease expiry, hand-back or a retryable failure).</param>
public sealed record DashboardQueue(long QueueDepth, long ActiveLeases, long ExpiredLeases, long Retries);

/// <summary>One error code of a job with its count and an example video.</summary>
/// <param name="Code">Error code.</param>
/// <param name="Count">Failed videos with it.</param>
/// <param name="Example">One such video's source.</param>
public sealed record DashboardErrorCount(string Code, long Count, string Example);

/// <summary>What the dashboard reads in one pass.</summary>
/// <param name="Jobs">Newest jobs first.</param>
/// <param name="Workers">Workers by last heartbeat, newest first.</param>
/// <param name="Queue">Queue figures.</param>
/// <param name="ReadAt">The database clock at the read.</param>
public sealed record DashboardData(IReadOnlyList<DashboardJobRow> Jobs, IReadOnlyList<DashboardWorkerRow> Workers, DashboardQueue Queue, DateTimeOffset ReadAt);

/// <summary>
/// Read-only SQL behind the silo's dashboard and queue gauges. Never retries (the caller polls every second) and
/// reads the optional worker columns only where <c>information_schema</c> shows them, so it works on every schema version.
/// </summary>
public sealed class DashboardQueries : IAsyncDisposable
{
    private static readonly string[] OptionalWorkerColumns = ["download_seconds", "upload_seconds", "shards_done"];
    private readonly NpgsqlDataSource _dataSource;
    private HashSet<string>? _workerColumns;
    private DateTimeOffset _columnsRead;

    private DashboardQueries(NpgsqlDataSource dataSource) => _dataSource = dataSource;

    /// <summary>Creates the queries over <paramref name="connectionString"/> without touching the server.</summary>
    public static DashboardQueries Create(string connectionString)
    {
        var builder = new NpgsqlDataSourceBuilder(connectionString);
        builder.ConnectionStringBuilder.ApplicationName = "tempme-dashboard";
        builder.ConnectionStringBuilder.Timeout = 3;
        builder.ConnectionStringBuilder.CommandTimeout = 5;
        return new DashboardQueries(builder.Build());
    }

    /// <summary>Reads the newest <paramref name="jobLimit"/> jobs, the workers seen in the last day and the queue figures.</summary>
    public async Task<DashboardData> ReadAsync(int jobLimit, CancellationToken cancellationToken)
    {
        await using var conn = await _dataSource.OpenConnectionAsync(cancellationToken);
        await using var tx = await conn.BeginTransactionAsync(System.Data.IsolationLevel.RepeatableRead, cancellationToken);
        var columns = await WorkerColumnsAsync(conn, tx, cancellationToken);

        var jobs = new List<DashboardJobRow>();
        await using (var cmd = new NpgsqlCommand("""
            SELECT j.id, j.state, j.source, j.output, j.model, j.total, j.done, j.failed, j.pending,
                   COALESCE(r.running, 0), j.shards_total, j.shards_done, j.created, j.started, j.finished, j.message
            FROM (SELECT * FROM jobs ORDER BY seq DESC LIMIT $1) j
            LEFT JOIN (
                SELECT s.job_id, count(*) AS running
                FROM shards s JOIN videos v ON v.job_id = s.job_id AND v.shard_id = s.id
                WHERE s.state = 'leased' AND v.state = 'pending'
                GROUP BY s.job_id) r ON r.job_id = j.id
            ORDER BY j.seq DESC
            """, conn, tx))
        {
            cmd.Parameters.Add(new NpgsqlParameter { Value = jobLimit });
            await using var reader = await cmd.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                jobs.Add(new DashboardJobRow(
                    reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.GetString(3), reader.GetString(4),
                    reader.GetInt64(5), reader.GetInt64(6), reader.GetInt64(7), reader.GetInt64(8), reader.GetInt64(9), reader.GetInt64(10), reader.GetInt64(11),
                    reader.GetFieldValue<DateTimeOffset>(12),
                    reader.IsDBNull(13) ? null : reader.GetFieldValue<DateTimeOffset>(13),
                    reader.IsDBNull(14) ? null : reader.GetFieldValue<DateTimeOffset>(14),
                    reader.IsDBNull(15) ? null : reader.GetString(15)));
            }
        }

        string Optional(string column, string type) => columns.Contains(column) ? column : $"NULL::{type}";
        var workers = new List<DashboardWorkerRow>();
        await using (var cmd = new NpgsqlCommand($"""
            SELECT id, host, started, last_heartbeat, current_job, current_shard, videos_done, videos_failed,
                   {Optional("download_seconds", "double precision")}, decode_seconds, encode_seconds,
                   {Optional("upload_seconds", "double precision")}, {Optional("shards_done", "bigint")}
            FROM workers WHERE last_heartbeat > now() - interval '1 day'
            ORDER BY last_heartbeat DESC LIMIT 200
            """, conn, tx))
        await using (var reader = await cmd.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                workers.Add(new DashboardWorkerRow(
                    reader.GetString(0), reader.GetString(1), reader.GetFieldValue<DateTimeOffset>(2), reader.GetFieldValue<DateTimeOffset>(3),
                    reader.IsDBNull(4) ? null : reader.GetString(4), reader.IsDBNull(5) ? null : reader.GetInt64(5),
                    reader.GetInt64(6), reader.GetInt64(7), reader.IsDBNull(8) ? null : reader.GetDouble(8), reader.GetDouble(9), reader.GetDouble(10),
                    reader.IsDBNull(11) ? null : reader.GetDouble(11), reader.IsDBNull(12) ? null : reader.GetInt64(12)));
            }
        }

        DashboardQueue queue;
        DateTimeOffset readAt;
        await using (var cmd = new NpgsqlCommand("""
            SELECT count(*) FILTER (WHERE s.state = 'queued' OR (s.state = 'leased' AND s.lease_expires < now())),
                   count(*) FILTER (WHERE s.state = 'leased' AND s.lease_expires >= now()),
                   count(*) FILTER (WHERE s.state = 'leased' AND s.lease_expires < now()),
                   COALESCE(sum(GREATEST(s.attempts - 1, 0)), 0)::bigint,
                   now()
            FROM shards s JOIN jobs j ON j.id = s.job_id
            WHERE j.state = 'running' AND s.state <> 'done'
            """, conn, tx))
        await using (var reader = await cmd.ExecuteReaderAsync(cancellationToken))
        {
            await reader.ReadAsync(cancellationToken);
            queue = new DashboardQueue(reader.GetInt64(0), reader.GetInt64(1), reader.GetInt64(2), reader.GetInt64(3));
            readAt = reader.GetFieldValue<DateTimeOffset>(4);
        }

        await tx.CommitAsync(cancellationToken);
        return new DashboardData(jobs, workers, queue, readAt);
    }

    /// <summary>A job's most frequent error codes (final failures), each with one example video.</summary>
    public async Task<IReadOnlyList<DashboardErrorCount>> ReadTopErrorsAsync(string jobId, int limit, CancellationToken cancellationToken)
    {
        await using var conn = await _dataSource.OpenConnectionAsync(cancellationToken);
        await using var cmd = new NpgsqlCommand("""
            SELECT COALESCE(error_code, 'internal'), count(*), min(source)
            FROM videos WHERE job_id = $1 AND state = 'failed'
            GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT $2
            """, conn);
        cmd.Parameters.Add(new NpgsqlParameter { Value = jobId });
        cmd.Parameters.Add(new NpgsqlParameter { Value = limit });
        var rows = new List<DashboardErrorCount>();
        await using var reader = await cmd.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            rows.Add(new DashboardErrorCount(reader.GetString(0), reader.GetInt64(1), reader.GetString(2)));
        }

        return rows;
    }

    /// <inheritdoc />
    public ValueTask DisposeAsync() => _dataSource.DisposeAsync();

    private async Task<HashSet<string>> WorkerColumnsAsync(NpgsqlConnection conn, NpgsqlTransaction tx, CancellationToken cancellationToken)
    {
        // Checked once a minute: a newer silo or worker may migrate the schema while this one runs.
        if (_workerColumns is { } known && DateTimeOffset.UtcNow - _columnsRead < TimeSpan.FromMinutes(1))
        {
            return known;
        }

        var columns = new HashSet<string>(StringComparer.Ordinal);
        await using var cmd = new NpgsqlCommand(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = 'workers' AND column_name = ANY($1)", conn, tx);
        cmd.Parameters.Add(new NpgsqlParameter { Value = OptionalWorkerColumns });
        await using var reader = await cmd.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            columns.Add(reader.GetString(0));
        }

        _workerColumns = columns;
        _columnsRead = DateTimeOffset.UtcNow;
        return columns;
    }
}

using System.Net.Sockets;
using System.Text.Json;
using Npgsql;
using NpgsqlTypes;
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
public sealed class PostgresLedger : IAsyncDisposable
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
    /// Records a new job in state <see cref="JobStates.Queued"/>; the silo lists its source next. The job row keeps the
    /// addresses with their SAS signatures redacted; the secrets go to <c>job_secrets</c> (see <see cref="JobSecrets"/>).
    /// </summary>
    public Task<string> CreateJobAsync(DistributedJobSpec spec, CancellationToken cancellationToken)
    {
        var id = NewJobId();
        return RunAsync(async (conn, tx, ct) =>
        {
            await InsertJobAsync(conn, tx, id, spec, null, ct);
            return id;
        }, cancellationToken);
    }

    /// <summary>
    /// Records a new job unless an active job (queued, running, finalizing) writes to the same output or to one inside or
    /// around it (<paramref name="outputKey"/>: see <c>OutputKey</c> in the silo). The check and the insert hold one lock,
    /// so two racing submissions cannot both take an output.
    /// </summary>
    public Task<JobCreation> CreateJobAsync(DistributedJobSpec spec, string outputKey, CancellationToken cancellationToken)
    {
        var id = NewJobId();
        return RunAsync(async (conn, tx, ct) =>
        {
            await ExecAsync(conn, tx, $"SELECT pg_advisory_xact_lock({OutputLockKey})", ct);
            await using (var clash = Cmd(conn, tx, """
                SELECT id FROM jobs
                WHERE state IN ('queued', 'running', 'finalizing') AND output_key IS NOT NULL
                  AND (starts_with(output_key, $1) OR starts_with($1, output_key))
                ORDER BY seq LIMIT 1
                """, outputKey))
            {
                if (await clash.ExecuteScalarAsync(ct) is string other)
                {
                    return new JobCreation(null, other);
                }
            }

            await InsertJobAsync(conn, tx, id, spec, outputKey, ct);
            return new JobCreation(id, null);
        }, cancellationToken);
    }

    private static string NewJobId() => $"job-{DateTimeOffset.UtcNow:yyyyMMdd-HHmmss}-{Guid.NewGuid().ToString("N")[..8]}";

    private static async Task InsertJobAsync(NpgsqlConnection conn, NpgsqlTransaction tx, string id, DistributedJobSpec spec, string? outputKey, CancellationToken ct)
    {
        var (shown, secrets) = JobSecrets.Split(spec);
        await using (var insert = Cmd(conn, tx, """
            INSERT INTO jobs (id, spec, source, output, model, frames, shard_size, max_attempts, output_key)
            VALUES ($1, $2::jsonb, $3, $4, $5, $6, $7, $8, $9)
            """, id, JsonSerializer.Serialize(shown), shown.Source, shown.Output, shown.Model, shown.Frames, shown.ShardSize, shown.MaxAttempts, outputKey))
        {
            await insert.ExecuteNonQueryAsync(ct);
        }

        var fields = secrets.ByField().ToList();
        if (fields.Count > 0)
        {
            await using var keep = Cmd(conn, tx, "INSERT INTO job_secrets (job_id, field, secret) SELECT $1, f, s FROM unnest($2::text[], $3::text[]) AS u(f, s)",
                id, fields.Select(f => f.Field).ToArray(), fields.Select(f => f.Secret).ToArray());
            await keep.ExecuteNonQueryAsync(ct);
        }
    }

    /// <summary>
    /// The job with its full addresses (SAS tokens put back), for the silo's listing and manifest writing and for workers.
    /// Never for HTTP answers, events or logs: those use <see cref="GetJobAsync"/>, which returns redacted addresses.
    /// </summary>
    public async Task<JobStatus?> GetJobForWorkAsync(string jobId, CancellationToken cancellationToken)
    {
        if (await GetJobAsync(jobId, cancellationToken) is not { } job)
        {
            return null;
        }

        var secrets = await RunAsync<IReadOnlyDictionary<string, string>>(async (conn, tx, ct) =>
        {
            var byField = new Dictionary<string, string>(StringComparer.Ordinal);
            await using var cmd = Cmd(conn, tx, "SELECT field, secret FROM job_secrets WHERE job_id = $1", jobId);
            await using var reader = await cmd.ExecuteReaderAsync(ct);
            while (await reader.ReadAsync(ct))
            {
                byField[reader.GetString(0)] = reader.GetString(1);
            }

            return byField;
        }, cancellationToken);
        return job with { Spec = JobSecrets.FromFields(secrets).Apply(job.Spec) };
    }

    /// <summary>
    /// Streams a source listing into the ledger with binary COPY into a staging table, then numbers the videos in
    /// ordinal source order and cuts them into shards in one INSERT..SELECT, all in one transaction. Returns the
    /// number of videos registered, or null when the job was no longer queued (another silo registered it, or it was cancelled).
    /// </summary>
    public Task<long?> RegisterListingAsync(string jobId, Func<CancellationToken, IAsyncEnumerable<SourceVideo>> listing, CancellationToken cancellationToken) =>
        RunAsync<long?>(async (conn, tx, ct) =>
        {
            int shardSize;
            await using (var job = Cmd(conn, tx, "SELECT state, shard_size FROM jobs WHERE id = $1 FOR UPDATE", jobId))
            await using (var reader = await job.ExecuteReaderAsync(ct))
            {
                if (!await reader.ReadAsync(ct) || reader.GetString(0) != JobStates.Queued)
                {
                    return null;
                }

                shardSize = reader.GetInt32(1);
            }

            // A refused entry (outside the silo's allowed roots) is stored failed at once: no worker ever opens it.
            await ExecAsync(conn, tx, "CREATE TEMP TABLE staging (source text NOT NULL, size bigint NOT NULL, modified timestamptz NOT NULL, error_code text, message text) ON COMMIT DROP", ct);
            long refused = 0;
            await using (var import = await conn.BeginBinaryImportAsync("COPY staging (source, size, modified, error_code, message) FROM STDIN (FORMAT BINARY)", ct))
            {
                await foreach (var video in listing(ct).WithCancellation(ct))
                {
                    await import.StartRowAsync(ct);
                    await import.WriteAsync(video.Source, NpgsqlDbType.Text, ct);
                    await import.WriteAsync(video.Size, NpgsqlDbType.Bigint, ct);
                    await import.WriteAsync(video.ModifiedUtc.ToUniversalTime(), NpgsqlDbType.TimestampTz, ct);
                    if (video.Refusal is { } refusal)
                    {
                        refused++;
                        await import.WriteAsync(refusal.ErrorCode, NpgsqlDbType.Text, ct);
                        await import.WriteAsync(refusal.Message, NpgsqlDbType.Text, ct);
                    }
                    else
                    {
                        await import.WriteNullAsync(ct);
                        await import.WriteNullAsync(ct);
                    }
                }

                await import.CompleteAsync(ct);
            }

            long count;
            await using (var insert = Cmd(conn, tx, """
                INSERT INTO videos (job_id, id, source, size, modified, shard_id, state, error_code, message)
                SELECT $1, rn, source, size, modified, rn / $2, CASE WHEN error_code IS NULL THEN 'pending' ELSE 'failed' END, error_code, message
                FROM (SELECT source, size, modified, error_code, message, row_number() OVER (ORDER BY source COLLATE "C") - 1 AS rn FROM staging) s
                """, jobId, (long)shardSize))
            {
                count = await insert.ExecuteNonQueryAsync(ct);
            }

            var shards = (count + shardSize - 1) / shardSize;
            await using (var shardRows = Cmd(conn, tx, "INSERT INTO shards (job_id, id) SELECT $1, g FROM generate_series(0::bigint, $2::bigint - 1) g", jobId, shards))
            {
                await shardRows.ExecuteNonQueryAsync(ct);
            }

            // An empty listing has nothing to claim: it goes straight to writing its (empty) manifests.
            await using (var update = Cmd(conn, tx, """
                UPDATE jobs SET total = $2, pending = $2 - $4, failed = $4, shards_total = $3, started = now(),
                    state = CASE WHEN $2 = 0 THEN 'finalizing' ELSE 'running' END,
                    finalizing_since = CASE WHEN $2 = 0 THEN now() END,
                    consecutive_failures = 0, retry_after = NULL, message = NULL
                WHERE id = $1
                """, jobId, count, shards, refused))
            {
                await update.ExecuteNonQueryAsync(ct);
            }

            return count;
        }, cancellationToken);

    /// <summary>Marks a job failed with a message (for example when its source cannot be listed).</summary>
    public Task FailJobAsync(string jobId, string message, CancellationToken cancellationToken) => RunAsync(async (conn, tx, ct) =>
    {
        // The message may quote an address (a worker's error): it is shown to anyone, so no signature is kept.
        await using var cmd = Cmd(conn, tx, "UPDATE jobs SET state = 'failed', message = $2, finished = now() WHERE id = $1 AND state IN ('queued', 'running')", jobId, SecretRedaction.Redact(message));
        return await cmd.ExecuteNonQueryAsync(ct);
    }, cancellationToken);

    /// <summary>Ids of jobs whose source is not yet listed and that are not waiting out a retry backoff, oldest first.</summary>
    public Task<IReadOnlyList<string>> ListQueuedJobIdsAsync(CancellationToken cancellationToken) =>
        ReadIdsAsync("SELECT id FROM jobs WHERE state = 'queued' AND (retry_after IS NULL OR retry_after <= now()) ORDER BY seq", cancellationToken);

    /// <summary>Ids of <see cref="JobStates.Finalizing"/> jobs due for (another) manifest write, oldest first.</summary>
    public Task<IReadOnlyList<string>> ListJobsNeedingManifestAsync(CancellationToken cancellationToken) =>
        ReadIdsAsync("SELECT id FROM jobs WHERE state = 'finalizing' AND (retry_after IS NULL OR retry_after <= now()) ORDER BY seq", cancellationToken);

    /// <summary>
    /// Moves a job from <see cref="JobStates.Finalizing"/> to completed or completed_with_failures once its manifests are
    /// written. Only when it is still the same finalizing (<paramref name="finalizingSince"/>): a retry-failed in between
    /// made the written manifest stale. Returns the new state, or null when nothing changed.
    /// </summary>
    public Task<string?> CompleteFinalizingAsync(string jobId, DateTimeOffset finalizingSince, CancellationToken cancellationToken) => RunAsync(async (conn, tx, ct) =>
    {
        await using var cmd = Cmd(conn, tx, """
            UPDATE jobs SET state = CASE WHEN failed > 0 THEN 'completed_with_failures' ELSE 'completed' END,
                manifest_written = true, finished = now(), finalizing_since = NULL, consecutive_failures = 0, retry_after = NULL, message = NULL
            WHERE id = $1 AND state = 'finalizing' AND finalizing_since = $2
            RETURNING state
            """, jobId, finalizingSince.ToUniversalTime());
        return await cmd.ExecuteScalarAsync(ct) as string;
    }, cancellationToken);

    /// <summary>
    /// Records one more job-level failure in a row of a job still in <paramref name="expectedState"/>: it is not tried
    /// again before the policy's backoff, its message says what failed, and the <see cref="JobRetryPolicy.MaxFailures"/>-th
    /// failure fails the job. Returns null when the job had left that state.
    /// </summary>
    public Task<JobFailureOutcome?> RecordJobFailureAsync(string jobId, string expectedState, string message, JobRetryPolicy policy, CancellationToken cancellationToken) => RunAsync<JobFailureOutcome?>(async (conn, tx, ct) =>
    {
        ArgumentNullException.ThrowIfNull(policy);
        await using var cmd = Cmd(conn, tx, """
            UPDATE jobs SET consecutive_failures = consecutive_failures + 1,
                retry_after = now() + make_interval(secs => least($5::float8, $4::float8 * power(2::float8, least(consecutive_failures, 40)))),
                state = CASE WHEN consecutive_failures + 1 >= $6 THEN 'failed' ELSE state END,
                finished = CASE WHEN consecutive_failures + 1 >= $6 THEN now() ELSE finished END,
                message = CASE WHEN consecutive_failures + 1 >= $6
                               THEN $3 || ' (failed ' || (consecutive_failures + 1) || ' times in a row; giving up)'
                               ELSE $3 || ' (failure ' || (consecutive_failures + 1) || CASE WHEN $6 < 2147483647 THEN ' of ' || $6 ELSE '' END || '; retrying)' END
            WHERE id = $1 AND state = $2
            RETURNING state, consecutive_failures, retry_after
            """, jobId, expectedState, SecretRedaction.Redact(message), policy.FirstDelay.TotalSeconds, policy.MaxDelay.TotalSeconds, policy.MaxFailures);
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        if (!await reader.ReadAsync(ct))
        {
            return null;
        }

        return new JobFailureOutcome(reader.GetString(0), reader.GetInt32(1), reader.IsDBNull(2) ? null : reader.GetFieldValue<DateTimeOffset>(2));
    }, cancellationToken);

    /// <summary>
    /// The oldest running job that has a shard to claim now (queued, or with an expired lease) and is not waiting out a
    /// retry backoff after failures, so a job that keeps failing does not hold workers back from later ones; null when none.
    /// </summary>
    public async Task<string?> FindClaimableJobAsync(CancellationToken cancellationToken)
    {
        var ids = await ReadIdsAsync("""
            SELECT j.id FROM jobs j
            WHERE j.state = 'running' AND (j.retry_after IS NULL OR j.retry_after <= now()) AND (
                EXISTS (SELECT 1 FROM shards s WHERE s.job_id = j.id AND s.state = 'queued')
                OR EXISTS (SELECT 1 FROM shards s WHERE s.job_id = j.id AND s.state = 'leased' AND s.lease_expires < now()))
            ORDER BY j.seq LIMIT 1
            """, cancellationToken);
        return ids.Count == 0 ? null : ids[0];
    }

    /// <summary>Stores the model facts a worker found for a job (first writer wins).</summary>
    public Task SetJobModelAsync(string jobId, string fingerprint, int embeddingSize, string samplingKey, CancellationToken cancellationToken) => RunAsync(async (conn, tx, ct) =>
    {
        await using var cmd = Cmd(conn, tx, "UPDATE jobs SET model_fingerprint = $2, embedding_size = $3, sampling_key = $4 WHERE id = $1 AND model_fingerprint IS NULL", jobId, fingerprint, embeddingSize, samplingKey);
        return await cmd.ExecuteNonQueryAsync(ct);
    }, cancellationToken);

    /// <summary>One job with its counters; null when unknown. Reads one row.</summary>
    public async Task<JobStatus?> GetJobAsync(string jobId, CancellationToken cancellationToken)
    {
        var jobs = await ReadJobsAsync("WHERE id = $1", [jobId], cancellationToken);
        return jobs.Count == 0 ? null : jobs[0];
    }

    /// <summary>The newest jobs first, at most <paramref name="limit"/>.</summary>
    public Task<IReadOnlyList<JobStatus>> ListJobsAsync(int limit, CancellationToken cancellationToken) =>
        ReadJobsAsync("ORDER BY seq DESC LIMIT $1", [limit], cancellationToken);

    /// <summary>Cancels a queued or running job; returns false when it was already terminal or unknown.</summary>
    public Task<bool> CancelJobAsync(string jobId, CancellationToken cancellationToken) => RunAsync(async (conn, tx, ct) =>
    {
        await using var cmd = Cmd(conn, tx, "UPDATE jobs SET state = 'cancelled', finished = now() WHERE id = $1 AND state IN ('queued', 'running')", jobId);
        return await cmd.ExecuteNonQueryAsync(ct) == 1;
    }, cancellationToken);

    /// <summary>
    /// Makes every finally failed video of a job pending again with fresh attempts, requeues their shards and reopens the
    /// job. Returns the number of videos requeued.
    /// </summary>
    public Task<long> RetryFailedAsync(string jobId, CancellationToken cancellationToken) => RunAsync(async (conn, tx, ct) =>
    {
        await using var cmd = Cmd(conn, tx, """
            WITH r AS (
                UPDATE videos SET state = 'pending', attempts = 0, error_code = NULL, message = NULL
                WHERE job_id = $1 AND state = 'failed' AND error_code IS DISTINCT FROM 'outside_allowed_roots' RETURNING shard_id),
            s AS (
                UPDATE shards SET state = 'queued', lease_owner = NULL, lease_token = NULL, lease_expires = NULL
                WHERE job_id = $1 AND state = 'done' AND id IN (SELECT shard_id FROM r) RETURNING id),
            j AS (
                UPDATE jobs SET failed = failed - (SELECT count(*) FROM r), pending = pending + (SELECT count(*) FROM r),
                    shards_done = shards_done - (SELECT count(*) FROM s),
                    state = CASE WHEN (SELECT count(*) FROM r) > 0 AND state IN ('finalizing', 'completed', 'completed_with_failures') THEN 'running' ELSE state END,
                    finished = CASE WHEN (SELECT count(*) FROM r) > 0 AND state IN ('finalizing', 'completed', 'completed_with_failures') THEN NULL ELSE finished END,
                    finalizing_since = CASE WHEN (SELECT count(*) FROM r) > 0 THEN NULL ELSE finalizing_since END,
                    consecutive_failures = CASE WHEN (SELECT count(*) FROM r) > 0 AND state = 'finalizing' THEN 0 ELSE consecutive_failures END,
                    retry_after = CASE WHEN (SELECT count(*) FROM r) > 0 AND state = 'finalizing' THEN NULL ELSE retry_after END,
                    manifest_written = CASE WHEN (SELECT count(*) FROM r) > 0 THEN false ELSE manifest_written END
                WHERE id = $1 AND state IN ('running', 'finalizing', 'completed', 'completed_with_failures') RETURNING id)
            SELECT CASE WHEN EXISTS (SELECT 1 FROM j) THEN (SELECT count(*) FROM r) ELSE -1 END
            """, jobId);
        var count = (long)(await cmd.ExecuteScalarAsync(ct))!;
        if (count < 0)
        {
            // Not retryable (unknown, cancelled or failed job): undo the video changes.
            await tx.RollbackAsync(ct);
            return 0L;
        }

        return count;
    }, cancellationToken, commit: true);

    /// <summary>Videos that failed for good, in listing order (at most <paramref name="limit"/>).</summary>
    public Task<IReadOnlyList<FailureRecord>> ListFailuresAsync(string jobId, int limit, CancellationToken cancellationToken) => RunAsync<IReadOnlyList<FailureRecord>>(async (conn, tx, ct) =>
    {
        var failures = new List<FailureRecord>();
        await using var cmd = Cmd(conn, tx, "SELECT source, error_code, message, attempts FROM videos WHERE job_id = $1 AND state = 'failed' ORDER BY id LIMIT $2", jobId, limit);
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            failures.Add(new FailureRecord(reader.GetString(0), reader.IsDBNull(1) ? ErrorCodes.Internal : reader.GetString(1), reader.IsDBNull(2) ? "" : reader.GetString(2), reader.GetInt32(3)));
        }

        return failures;
    }, cancellationToken);

    /// <summary>
    /// One page of a job's final failures in listing order: at most <paramref name="limit"/> videos whose id is greater
    /// than <paramref name="after"/> (-1 for the first page). Keyset paging over the <c>videos_failed</c> index, so a page
    /// costs the same however deep it is.
    /// </summary>
    public Task<IReadOnlyList<FailurePageRow>> ListFailuresPageAsync(string jobId, long after, int limit, CancellationToken cancellationToken) => RunAsync<IReadOnlyList<FailurePageRow>>(async (conn, tx, ct) =>
    {
        var rows = new List<FailurePageRow>();
        await using var cmd = Cmd(conn, tx, "SELECT id, source, error_code, message, attempts FROM videos WHERE job_id = $1 AND state = 'failed' AND id > $2 ORDER BY id LIMIT $3", jobId, after, limit);
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            rows.Add(new FailurePageRow(reader.GetInt64(0), new FailureRecord(reader.GetString(1), reader.IsDBNull(2) ? ErrorCodes.Internal : reader.GetString(2), reader.IsDBNull(3) ? "" : reader.GetString(3), reader.GetInt32(4))));
        }

        return rows;
    }, cancellationToken);

    /// <summary>The parts written by finished shards, in part order.</summary>
    public Task<IReadOnlyList<PartRecord>> ListPartsAsync(string jobId, CancellationToken cancellationToken) => RunAsync<IReadOnlyList<PartRecord>>(async (conn, tx, ct) =>
    {
        var parts = new List<PartRecord>();
        await using var cmd = Cmd(conn, tx, "SELECT id, part_name, row_count FROM shards WHERE job_id = $1 AND state = 'done' AND part_name IS NOT NULL ORDER BY id", jobId);
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            parts.Add(new PartRecord((int)reader.GetInt64(0), reader.GetString(1), reader.GetInt32(2)));
        }

        return parts;
    }, cancellationToken);

    /// <summary>
    /// Requeues shards whose lease ran out (their holder died or stalled). Each pending video of such a shard is
    /// charged one attempt; one that reaches the job's attempt limit this way fails for good with
    /// <see cref="ErrorCodes.LeaseExpired"/>, so a video that kills workers is eventually quarantined.
    /// Returns the number of shards requeued.
    /// </summary>
    public Task<int> SweepExpiredLeasesAsync(CancellationToken cancellationToken) => RunAsync(async (conn, tx, ct) =>
    {
        var expired = new List<(string Job, long Shard)>();
        await using (var pick = Cmd(conn, tx, "SELECT job_id, id FROM shards WHERE state = 'leased' AND lease_expires < now() ORDER BY lease_expires LIMIT 500 FOR UPDATE SKIP LOCKED"))
        await using (var reader = await pick.ExecuteReaderAsync(ct))
        {
            while (await reader.ReadAsync(ct))
            {
                expired.Add((reader.GetString(0), reader.GetInt64(1)));
            }
        }

        foreach (var (job, shard) in expired)
        {
            await ChargeExpiredLeaseAsync(conn, tx, job, shard, ct);
            await using var requeue = Cmd(conn, tx, "UPDATE shards SET state = 'queued', lease_owner = NULL, lease_token = NULL, lease_expires = NULL WHERE job_id = $1 AND id = $2", job, shard);
            await requeue.ExecuteNonQueryAsync(ct);
        }

        return expired.Count;
    }, cancellationToken);

    /// <summary>
    /// Ends at once every lease held by a worker in one of <paramref name="silos"/> (silos the cluster declared dead) and
    /// requeues those shards exactly as an expired lease is requeued (each pending video charged one attempt, see
    /// <see cref="SweepExpiredLeasesAsync"/>). Idempotent: a dead silo holds no lease after the first call.
    /// Returns the number of leases ended.
    /// </summary>
    public async Task<int> ExpireLeasesOfSilosAsync(IReadOnlyCollection<string> silos, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(silos);
        if (silos.Count == 0)
        {
            return 0;
        }

        var ended = await RunAsync(async (conn, tx, ct) =>
        {
            await using var cmd = Cmd(conn, tx, "UPDATE shards SET lease_expires = now() - interval '1 millisecond' WHERE state = 'leased' AND lease_silo = ANY($1)", (object)silos.ToArray());
            return await cmd.ExecuteNonQueryAsync(ct);
        }, cancellationToken);
        while (ended > 0 && await SweepExpiredLeasesAsync(cancellationToken) == 500)
        {
        }

        return ended;
    }

    /// <summary>Writes a worker's heartbeat row.</summary>
    public Task ReportWorkerAsync(WorkerReport report, CancellationToken cancellationToken) => RunAsync(async (conn, tx, ct) =>
    {
        // The shard held (current_part) is set by claims and cleared by completions; a heartbeat clears it only when the
        // worker has left that job.
        await using var cmd = Cmd(conn, tx, """
            INSERT INTO workers (id, host, started, last_heartbeat, current_job, current_job_id, videos_done, videos_failed, decode_seconds, encode_seconds, download_seconds, upload_seconds)
            VALUES ($1, $2, $3, now(), $4, $4, $5, $6, $7, $8, $9, $10)
            ON CONFLICT (id) DO UPDATE SET last_heartbeat = now(), current_job = excluded.current_job, current_job_id = excluded.current_job_id,
                current_part = CASE WHEN workers.current_job_id IS NOT DISTINCT FROM excluded.current_job_id THEN workers.current_part END,
                current_shard = CASE WHEN workers.current_job_id IS NOT DISTINCT FROM excluded.current_job_id THEN workers.current_shard END,
                current_part_since = CASE WHEN workers.current_job_id IS NOT DISTINCT FROM excluded.current_job_id THEN workers.current_part_since END,
                videos_done = excluded.videos_done, videos_failed = excluded.videos_failed, decode_seconds = excluded.decode_seconds,
                encode_seconds = excluded.encode_seconds, download_seconds = excluded.download_seconds, upload_seconds = excluded.upload_seconds
            """, report.Id, report.Host, report.Started.ToUniversalTime(), (object?)report.CurrentJob ?? DBNull.Value, report.VideosDone, report.VideosFailed,
            report.DecodeSeconds, report.EncodeSeconds, report.DownloadSeconds, report.UploadSeconds);
        return await cmd.ExecuteNonQueryAsync(ct);
    }, cancellationToken);

    /// <summary>
    /// A view of the ledger restricted to one job, as the shared <c>ShardPipeline</c> needs it: claims take only this
    /// job's shards and the embedding cache is keyed by <paramref name="modelKey"/> (see <see cref="JobRecord.ModelKey"/>).
    /// </summary>
    public IShardLedger ForJob(string jobId, string modelKey) => new PostgresJobLedger(this, jobId, modelKey);

    /// <inheritdoc />
    public ValueTask DisposeAsync() => _dataSource.DisposeAsync();

    /// <summary>
    /// Claims the next shard of <paramref name="jobId"/> for <paramref name="workerId"/>, recording the Orleans silo
    /// the worker runs in (<paramref name="silo"/>, null outside a cluster) so the shard can be requeued the moment the
    /// cluster declares that silo dead (<see cref="ExpireLeasesOfSilosAsync"/>).
    /// </summary>
    public async Task<ShardLease?> ClaimShardAsync(string jobId, string workerId, string? silo, TimeSpan lease, CancellationToken cancellationToken) =>
        await RunAsync(async (conn, tx, ct) =>
        {
            await using (var job = Cmd(conn, tx, "SELECT state FROM jobs WHERE id = $1", jobId))
            {
                if (await job.ExecuteScalarAsync(ct) as string != JobStates.Running)
                {
                    return null;
                }
            }

            long? shard;
            await using (var queued = Cmd(conn, tx, "SELECT id FROM shards WHERE job_id = $1 AND state = 'queued' ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED", jobId))
            {
                shard = await queued.ExecuteScalarAsync(ct) as long?;
            }

            if (shard is null)
            {
                await using var expired = Cmd(conn, tx, "SELECT id FROM shards WHERE job_id = $1 AND state = 'leased' AND lease_expires < now() ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED", jobId);
                shard = await expired.ExecuteScalarAsync(ct) as long?;
                if (shard is null)
                {
                    return null;
                }

                await ChargeExpiredLeaseAsync(conn, tx, jobId, shard.Value, ct);
            }

            var token = Guid.NewGuid();
            DateTimeOffset expires;
            // The worker's dashboard row learns its shard in the same transaction (no row yet: nothing to update).
            await using (var take = Cmd(conn, tx, """
                WITH taken AS (
                    UPDATE shards SET state = 'leased', lease_owner = $3, lease_token = $4, lease_expires = now() + make_interval(secs => $5), attempts = attempts + 1, lease_silo = $6
                    WHERE job_id = $1 AND id = $2 RETURNING lease_expires),
                w AS (
                    UPDATE workers SET current_job_id = $1, current_job = $1, current_part = $2, current_shard = $2, current_part_since = now(), last_heartbeat = now()
                    WHERE id = $3)
                SELECT lease_expires FROM taken
                """, jobId, shard.Value, workerId, token, lease.TotalSeconds, (object?)silo ?? DBNull.Value))
            {
                expires = new DateTimeOffset(DateTime.SpecifyKind((DateTime)(await take.ExecuteScalarAsync(ct))!, DateTimeKind.Utc));
            }

            var videos = new List<ShardVideo>();
            await using (var members = Cmd(conn, tx, """
                SELECT id, source, size, attempts, state, content_sha256, error_code, message
                FROM videos WHERE job_id = $1 AND shard_id = $2 ORDER BY id
                """, jobId, shard.Value))
            await using (var reader = await members.ExecuteReaderAsync(ct))
            {
                while (await reader.ReadAsync(ct))
                {
                    videos.Add(new ShardVideo(
                        reader.GetInt64(0), reader.GetString(1), reader.GetInt64(2), reader.GetInt32(3), ParseState(reader.GetString(4)),
                        reader.IsDBNull(5) ? null : reader.GetString(5),
                        reader.IsDBNull(6) ? null : reader.GetString(6),
                        reader.IsDBNull(7) ? null : reader.GetString(7)));
                }
            }

            return new ShardLease(jobId, shard.Value, checked((int)shard.Value), videos, token, expires);
        }, cancellationToken);

    internal async Task<bool> RenewLeaseAsync(ShardLease shard, TimeSpan lease, CancellationToken cancellationToken)
    {
        try
        {
            return await RunAsync(async (conn, tx, ct) =>
            {
                await using var cmd = Cmd(conn, tx, """
                    UPDATE shards s SET lease_expires = now() + make_interval(secs => $4)
                    FROM jobs j
                    WHERE s.job_id = $1 AND s.id = $2 AND s.lease_token = $3 AND s.state = 'leased' AND j.id = s.job_id AND j.state = 'running'
                    """, shard.JobId, shard.ShardId, shard.LeaseToken, lease.TotalSeconds);
                return await cmd.ExecuteNonQueryAsync(ct) == 1;
            }, cancellationToken, pipeline: _renewRetry);
        }
        catch (Exception e) when (PostgresRetry.IsTransient(e))
        {
            // The database stayed away for too long: treat the lease as lost; completion will tell for sure.
            return false;
        }
    }

    internal Task<CachedEmbedding?> FindEmbeddingAsync(string modelKey, string contentSha256, CancellationToken cancellationToken) => RunAsync<CachedEmbedding?>(async (conn, tx, ct) =>
    {
        await using var cmd = Cmd(conn, tx, "SELECT vector, duration_s, timestamps_json FROM embeddings WHERE content_sha256 = $1 AND model_key = $2", contentSha256, modelKey);
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        if (!await reader.ReadAsync(ct))
        {
            return null;
        }

        return new CachedEmbedding(
            EmbeddingCodec.FromBytes((byte[])reader.GetValue(0)),
            reader.IsDBNull(1) ? null : reader.GetDouble(1),
            EmbeddingCodec.TimestampsFromJson(reader.GetString(2)));
    }, cancellationToken);

    internal Task RecordVideoResultsAsync(string modelKey, ShardLease shard, IReadOnlyList<VideoResult> results, CancellationToken cancellationToken)
    {
        var succeeded = results.Where(r => r.Succeeded && r.ContentSha256 is not null).ToList();
        if (succeeded.Count == 0)
        {
            return Task.CompletedTask;
        }

        return RunAsync(async (conn, tx, ct) =>
        {
            await using (var cache = Cmd(conn, tx, """
                INSERT INTO embeddings (content_sha256, model_key, vector, duration_s, timestamps_json)
                SELECT sha, $2, vector, duration, ts FROM unnest($1::text[], $3::bytea[], $4::float8[], $5::text[]) AS u(sha, vector, duration, ts)
                ON CONFLICT (content_sha256, model_key) DO NOTHING
                """,
                succeeded.Select(r => r.ContentSha256!).ToArray(),
                modelKey,
                succeeded.Select(r => EmbeddingCodec.ToBytes(r.Embedding!.Vector)).ToArray(),
                succeeded.Select(r => r.Embedding!.DurationSeconds).ToArray(),
                succeeded.Select(r => EmbeddingCodec.TimestampsToJson(r.Embedding!.TimestampsSeconds)).ToArray()))
            {
                await cache.ExecuteNonQueryAsync(ct);
            }

            var old = await LockVideoStatesAsync(conn, tx, shard.JobId, succeeded.Select(r => r.VideoId).ToArray(), ct);
            var changes = succeeded.Where(r => old.TryGetValue(r.VideoId, out var o) && o.State != "done").ToList();
            if (changes.Count == 0)
            {
                return 0;
            }

            await using (var update = Cmd(conn, tx, """
                UPDATE videos v SET state = 'done', content_sha256 = u.sha, error_code = NULL, message = NULL,
                    decode_seconds = u.decode, encode_seconds = u.encode, attempts = v.attempts + u.attempted, updated = now()
                FROM unnest($2::bigint[], $3::text[], $4::float8[], $5::float8[], $6::int[]) AS u(id, sha, decode, encode, attempted)
                WHERE v.job_id = $1 AND v.id = u.id
                """,
                shard.JobId,
                changes.Select(r => r.VideoId).ToArray(),
                changes.Select(r => r.ContentSha256!).ToArray(),
                changes.Select(r => r.DecodeSeconds).ToArray(),
                changes.Select(r => r.EncodeSeconds).ToArray(),
                changes.Select(r => r.Attempted ? 1 : 0).ToArray()))
            {
                await update.ExecuteNonQueryAsync(ct);
            }

            var fromPending = changes.Count(r => old[r.VideoId].State == "pending");
            var fromFailed = changes.Count(r => old[r.VideoId].State == "failed");
            await AdjustCountersAsync(conn, tx, shard.JobId, done: changes.Count, failed: -fromFailed, pending: -fromPending, shardsDone: 0, ct);
            return changes.Count;
        }, cancellationToken);
    }

    internal Task<bool> CompleteShardAsync(ShardLease shard, ShardCompletion completion, CancellationToken cancellationToken) => RunAsync(async (conn, tx, ct) =>
    {
        string owner;
        await using (var check = Cmd(conn, tx, "SELECT COALESCE(lease_owner, '') FROM shards WHERE job_id = $1 AND id = $2 AND lease_token = $3 AND state = 'leased' FOR UPDATE", shard.JobId, shard.ShardId, shard.LeaseToken))
        {
            if (await check.ExecuteScalarAsync(ct) is not string holder)
            {
                return false;
            }

            owner = holder;
        }

        var old = await LockVideoStatesAsync(conn, tx, shard.JobId, completion.Results.Select(r => r.VideoId).ToArray(), ct);
        var ids = new List<long>();
        var states = new List<string>();
        var codes = new List<string?>();
        var messages = new List<string?>();
        var attempts = new List<int>();
        var rows = new List<int?>();
        var shas = new List<string?>();
        var decode = new List<double>();
        var encode = new List<double>();
        int row = 0, done = 0, failed = 0, pending = 0;
        var retryLeft = false;
        foreach (var result in completion.Results)
        {
            if (!old.TryGetValue(result.VideoId, out var before))
            {
                continue;
            }

            string state;
            string? code = null, message = null;
            int? partRow = null;
            var tries = before.Attempts;
            if (result.Succeeded)
            {
                state = "done";
                partRow = row++;
                if (before.State != "done")
                {
                    tries += result.Attempted ? 1 : 0;
                }
            }
            else
            {
                tries += result.Attempted ? 1 : 0;
                code = result.ErrorCode ?? ErrorCodes.Internal;
                message = result.Message is null ? null : SecretRedaction.Redact(result.Message);
                var final = !ErrorCodes.IsRetryable(code) || tries >= completion.MaxAttempts;
                state = final ? "failed" : "pending";
                retryLeft |= !final;
            }

            done += (state == "done" ? 1 : 0) - (before.State == "done" ? 1 : 0);
            failed += (state == "failed" ? 1 : 0) - (before.State == "failed" ? 1 : 0);
            pending += (state == "pending" ? 1 : 0) - (before.State == "pending" ? 1 : 0);
            ids.Add(result.VideoId);
            states.Add(state);
            codes.Add(code);
            messages.Add(message);
            attempts.Add(tries);
            rows.Add(partRow);
            shas.Add(result.ContentSha256);
            decode.Add(result.DecodeSeconds);
            encode.Add(result.EncodeSeconds);
        }

        await using (var update = Cmd(conn, tx, """
            UPDATE videos v SET state = u.state, error_code = u.code, message = u.message, attempts = u.attempts,
                part_name = CASE WHEN u.state = 'done' THEN $11 END, part_row = u.part_row,
                content_sha256 = COALESCE(u.sha, v.content_sha256),
                decode_seconds = CASE WHEN v.state = 'done' THEN v.decode_seconds ELSE u.decode END,
                encode_seconds = CASE WHEN v.state = 'done' THEN v.encode_seconds ELSE u.encode END,
                updated = now()
            FROM unnest($2::bigint[], $3::text[], $4::text[], $5::text[], $6::int[], $7::int[], $8::text[], $9::float8[], $10::float8[])
                AS u(id, state, code, message, attempts, part_row, sha, decode, encode)
            WHERE v.job_id = $1 AND v.id = u.id
            """,
            shard.JobId, ids.ToArray(), states.ToArray(), codes.ToArray(), messages.ToArray(), attempts.ToArray(), rows.ToArray(), shas.ToArray(), decode.ToArray(), encode.ToArray(),
            (object?)completion.PartName ?? DBNull.Value))
        {
            await update.ExecuteNonQueryAsync(ct);
        }

        // A retryable failure with attempts left keeps the shard queued: the next claim retries it.
        await using (var finish = Cmd(conn, tx, """
            UPDATE shards SET state = $3, part_name = $4, row_count = $5, lease_owner = NULL, lease_token = NULL, lease_expires = NULL
            WHERE job_id = $1 AND id = $2
            """, shard.JobId, shard.ShardId, retryLeft ? "queued" : "done", (object?)completion.PartName ?? DBNull.Value, row))
        {
            await finish.ExecuteNonQueryAsync(ct);
        }

        await AdjustCountersAsync(conn, tx, shard.JobId, done, failed, pending, retryLeft ? 0 : 1, ct);

        // The holder's dashboard row: one more shard done, and it no longer holds this one. Locked after the job row,
        // in the same order as a claim that charges an expired lease, so the two never deadlock.
        await using (var worker = Cmd(conn, tx, """
            UPDATE workers SET shards_done = shards_done + $4, last_heartbeat = now(),
                current_part = CASE WHEN current_job_id = $1 AND current_part = $2 THEN NULL ELSE current_part END,
                current_shard = CASE WHEN current_job_id = $1 AND current_part = $2 THEN NULL ELSE current_shard END,
                current_part_since = CASE WHEN current_job_id = $1 AND current_part = $2 THEN NULL ELSE current_part_since END
            WHERE id = $3
            """, shard.JobId, shard.ShardId, owner, retryLeft ? 0L : 1L))
        {
            await worker.ExecuteNonQueryAsync(ct);
        }

        return true;
    }, cancellationToken);

    internal Task ReleaseShardAsync(ShardLease shard, CancellationToken cancellationToken) => RunAsync(async (conn, tx, ct) =>
    {
        await using var cmd = Cmd(conn, tx, """
            WITH released AS (
                SELECT lease_owner FROM shards WHERE job_id = $1 AND id = $2 AND lease_token = $3 AND state = 'leased'),
            w AS (
                UPDATE workers SET current_part = NULL, current_shard = NULL, current_part_since = NULL
                WHERE id IN (SELECT lease_owner FROM released) AND current_job_id = $1 AND current_part = $2)
            UPDATE shards SET state = 'queued', lease_owner = NULL, lease_token = NULL, lease_expires = NULL
            WHERE job_id = $1 AND id = $2 AND lease_token = $3 AND state = 'leased'
            """, shard.JobId, shard.ShardId, shard.LeaseToken);
        return await cmd.ExecuteNonQueryAsync(ct);
    }, cancellationToken);

    private static async Task AdjustCountersAsync(NpgsqlConnection conn, NpgsqlTransaction tx, string jobId, long done, long failed, long pending, long shardsDone, CancellationToken ct)
    {
        if (done == 0 && failed == 0 && pending == 0 && shardsDone == 0)
        {
            return;
        }

        // The last shard done moves a running job to finalizing (a cancelled one stays cancelled); it turns completed only
        // once the silo has written its manifests. A shard done is progress: the job's failures in a row start again.
        await using var cmd = Cmd(conn, tx, """
            UPDATE jobs SET done = done + $2, failed = failed + $3, pending = pending + $4, shards_done = shards_done + $5,
                state = CASE WHEN state = 'running' AND shards_done + $5 >= shards_total THEN 'finalizing' ELSE state END,
                finalizing_since = CASE WHEN state = 'running' AND shards_done + $5 >= shards_total THEN now() ELSE finalizing_since END,
                consecutive_failures = CASE WHEN state = 'running' AND ($5 > 0 OR shards_done + $5 >= shards_total) THEN 0 ELSE consecutive_failures END,
                retry_after = CASE WHEN state = 'running' AND ($5 > 0 OR shards_done + $5 >= shards_total) THEN NULL ELSE retry_after END,
                message = CASE WHEN state = 'running' AND ($5 > 0 OR shards_done + $5 >= shards_total) THEN NULL ELSE message END
            WHERE id = $1
            """, jobId, done, failed, pending, shardsDone);
        await cmd.ExecuteNonQueryAsync(ct);
    }

    /// <summary>Charges one attempt to each pending video of a shard whose lease ran out; quarantines those at the limit.</summary>
    private static async Task ChargeExpiredLeaseAsync(NpgsqlConnection conn, NpgsqlTransaction tx, string jobId, long shardId, CancellationToken ct)
    {
        await using var cmd = Cmd(conn, tx, """
            WITH charged AS (
                UPDATE videos v SET attempts = v.attempts + 1,
                    state = CASE WHEN v.attempts + 1 >= j.max_attempts THEN 'failed' ELSE 'pending' END,
                    error_code = 'lease_expired',
                    message = 'the worker processing this video stopped renewing its lease ' || (v.attempts + 1) || ' time(s)',
                    updated = now()
                FROM jobs j
                WHERE j.id = $1 AND v.job_id = $1 AND v.shard_id = $2 AND v.state = 'pending'
                RETURNING v.state)
            UPDATE jobs SET failed = failed + (SELECT count(*) FROM charged WHERE state = 'failed'),
                pending = pending - (SELECT count(*) FROM charged WHERE state = 'failed')
            WHERE id = $1
            """, jobId, shardId);
        await cmd.ExecuteNonQueryAsync(ct);
    }

    private static async Task<Dictionary<long, (string State, int Attempts)>> LockVideoStatesAsync(NpgsqlConnection conn, NpgsqlTransaction tx, string jobId, long[] ids, CancellationToken ct)
    {
        var states = new Dictionary<long, (string, int)>();
        await using var cmd = Cmd(conn, tx, "SELECT id, state, attempts FROM videos WHERE job_id = $1 AND id = ANY($2) ORDER BY id FOR UPDATE", jobId, ids);
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            states[reader.GetInt64(0)] = (reader.GetString(1), reader.GetInt32(2));
        }

        return states;
    }

    private async Task<IReadOnlyList<JobStatus>> ReadJobsAsync(string where, object[] args, CancellationToken cancellationToken) => await RunAsync<IReadOnlyList<JobStatus>>(async (conn, tx, ct) =>
    {
        var jobs = new List<JobStatus>();
        await using var cmd = Cmd(conn, tx, $"""
            SELECT id, state, source, output, model, frames, shard_size, max_attempts, message, created, started, finished,
                   total, done, failed, pending, shards_total, shards_done, model_fingerprint, embedding_size, sampling_key, manifest_written, now(),
                   finalizing_since, consecutive_failures, retry_after
            FROM jobs {where}
            """, args);
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            jobs.Add(new JobStatus
            {
                Id = reader.GetString(0),
                State = reader.GetString(1),
                Spec = new DistributedJobSpec(reader.GetString(2), reader.GetString(3), reader.GetString(4), reader.GetInt32(5), reader.GetInt32(6), reader.GetInt32(7)),
                Message = reader.IsDBNull(8) ? null : reader.GetString(8),
                Created = reader.GetFieldValue<DateTimeOffset>(9),
                Started = reader.IsDBNull(10) ? null : reader.GetFieldValue<DateTimeOffset>(10),
                Finished = reader.IsDBNull(11) ? null : reader.GetFieldValue<DateTimeOffset>(11),
                Total = reader.GetInt64(12),
                Done = reader.GetInt64(13),
                Failed = reader.GetInt64(14),
                Pending = reader.GetInt64(15),
                ShardsTotal = reader.GetInt64(16),
                ShardsDone = reader.GetInt64(17),
                ModelFingerprint = reader.IsDBNull(18) ? null : reader.GetString(18),
                EmbeddingSize = reader.IsDBNull(19) ? null : reader.GetInt32(19),
                SamplingKey = reader.IsDBNull(20) ? null : reader.GetString(20),
                ManifestWritten = reader.GetBoolean(21),
                ReadAt = reader.GetFieldValue<DateTimeOffset>(22),
                FinalizingSince = reader.IsDBNull(23) ? null : reader.GetFieldValue<DateTimeOffset>(23),
                ConsecutiveFailures = reader.GetInt32(24),
                RetryAfter = reader.IsDBNull(25) ? null : reader.GetFieldValue<DateTimeOffset>(25),
            });
        }

        return jobs;
    }, cancellationToken);

    private Task<IReadOnlyList<string>> ReadIdsAsync(string sql, CancellationToken cancellationToken) => RunAsync<IReadOnlyList<string>>(async (conn, tx, ct) =>
    {
        var ids = new List<string>();
        await using var cmd = Cmd(conn, tx, sql);
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            ids.Add(reader.GetString(0));
        }

        return ids;
    }, cancellationToken);

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

/// <summary>Transaction helpers.</summary>
internal static class NpgsqlTransactionExtensions
{
    /// <summary>Whether the transaction was already committed or rolled back.</summary>
    public static bool IsCompleted(this NpgsqlTransaction tx) => tx.Connection is null;
}

using System.Text.Json;
using Npgsql;
using NpgsqlTypes;
using TempMe.Pipeline.Contracts;

namespace TempMe.Pipeline.Ledger.Postgres;

/// <summary>Jobs: creation, listing registration, state changes, status, failures and parts as the API and the grains read them.</summary>
public sealed partial class PostgresLedger
{
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
}

using Npgsql;
using TempMe.Pipeline.Contracts;
using TempMe.Pipeline.Ledger.Internal;

namespace TempMe.Pipeline.Ledger.Postgres;

/// <summary>Shards: claims, leases (renewed, swept, expired with their silo), per-video results, completion and worker reports.</summary>
public sealed partial class PostgresLedger
{
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
}

using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Data.Sqlite;
using TempMe.Pipeline.Contracts;
using TempMe.Pipeline.Ledger.Internal;

namespace TempMe.Pipeline.Ledger.Sqlite;

/// <summary>
/// The single-machine ledger: one SQLite file per output folder, holding one job. It survives Ctrl-C, <c>kill -9</c>
/// and power cuts: WAL with <c>synchronous=FULL</c>, and every state change is one short transaction.
/// A process that dies while holding shards leaves their leases behind; <see cref="ReclaimAbandonedLeasesAsync"/>
/// returns them at the next start, because in this mode only one process works on the folder at a time.
/// </summary>
public sealed class SqliteLedger : IShardLedger, IAsyncDisposable
{
    /// <summary>The job id of the one job a single-machine ledger holds.</summary>
    public const string LocalJobId = "local";

    private readonly SqliteConnection _connection;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly TimeProvider _time;
    private JobRecord? _job;

    private SqliteLedger(SqliteConnection connection, TimeProvider time)
    {
        _connection = connection;
        _time = time;
    }

    /// <summary>The path of the database file.</summary>
    public string DatabasePath => _connection.DataSource;

    /// <summary>Opens or creates the ledger at <paramref name="databasePath"/> and applies pending migrations.</summary>
    public static async Task<SqliteLedger> OpenAsync(string databasePath, TimeProvider? time = null, CancellationToken cancellationToken = default)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(databasePath))!);
        var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = databasePath, Pooling = false }.ToString());
        await connection.OpenAsync(cancellationToken);
        var ledger = new SqliteLedger(connection, time ?? TimeProvider.System);
        try
        {
            await ledger.ExecuteAsync("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA busy_timeout=10000; PRAGMA foreign_keys=ON;", cancellationToken);
            await ledger.MigrateAsync(cancellationToken);
            return ledger;
        }
        catch
        {
            await ledger.DisposeAsync();
            throw;
        }
    }

    /// <summary>
    /// Binds the ledger to a job. A new ledger records <paramref name="job"/>; an existing one must have the same
    /// model fingerprint and sampling settings, otherwise <see cref="JobMismatchException"/> says what differs.
    /// </summary>
    public async Task<JobRecord> EnsureJobAsync(JobRecord job, CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken);
        try
        {
            await using var read = Command("SELECT model_spec, model_fingerprint, sampling_key, embedding_size, shard_size FROM job WHERE id = 1");
            await using (var reader = await read.ExecuteReaderAsync(cancellationToken))
            {
                if (await reader.ReadAsync(cancellationToken))
                {
                    var existing = new JobRecord(reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.GetInt32(3), reader.GetInt32(4));
                    if (existing.ModelFingerprint != job.ModelFingerprint || existing.SamplingKey != job.SamplingKey)
                    {
                        throw new JobMismatchException(existing, job);
                    }

                    _job = existing;
                    return existing;
                }
            }

            await using var insert = Command("""
                INSERT INTO job (id, model_spec, model_fingerprint, sampling_key, embedding_size, shard_size, created_utc)
                VALUES (1, $spec, $fingerprint, $sampling, $size, $shard, $now)
                """);
            insert.Parameters.AddWithValue("$spec", job.ModelSpec);
            insert.Parameters.AddWithValue("$fingerprint", job.ModelFingerprint);
            insert.Parameters.AddWithValue("$sampling", job.SamplingKey);
            insert.Parameters.AddWithValue("$size", job.EmbeddingSize);
            insert.Parameters.AddWithValue("$shard", job.ShardSize);
            insert.Parameters.AddWithValue("$now", Now());
            await insert.ExecuteNonQueryAsync(cancellationToken);
            _job = job;
            return job;
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>
    /// Reads the job recorded in an existing ledger without binding to it; null for a new ledger.
    /// </summary>
    public async Task<JobRecord?> ReadJobAsync(CancellationToken cancellationToken)
    {
        await using var read = Command("SELECT model_spec, model_fingerprint, sampling_key, embedding_size, shard_size FROM job WHERE id = 1");
        await using var reader = await read.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken)
            ? new JobRecord(reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.GetInt32(3), reader.GetInt32(4))
            : null;
    }

    /// <summary>
    /// Brings the ledger in line with a fresh listing of the source, sorted by path: new videos become pending,
    /// changed ones (size or modification time) are reset to pending, vanished ones leave the output, and the
    /// listing is cut into shards of the job's shard size. A shard whose members did not change keeps its state,
    /// so a finished part is not rewritten. Failed videos with a retryable error and attempts left become pending.
    /// </summary>
    /// <returns>How the listing compared with the ledger.</returns>
    public async Task<ListingSummary> SyncListingAsync(IEnumerable<SourceVideo> listing, int maxAttempts, CancellationToken cancellationToken)
    {
        var job = _job ?? throw new InvalidOperationException("Call EnsureJobAsync before syncing the listing.");
        var sorted = listing.OrderBy(v => v.Source, StringComparer.Ordinal).ToList();
        await _gate.WaitAsync(cancellationToken);
        try
        {
            await using var tx = (SqliteTransaction)await _connection.BeginTransactionAsync(cancellationToken);
            await ExecuteAsync("UPDATE videos SET listed = 0", cancellationToken, tx);

            int added = 0, changed = 0;
            await using (var upsert = Command("""
                INSERT INTO videos (source, size, modified_utc, listed, updated_utc) VALUES ($source, $size, $modified, 1, $now)
                ON CONFLICT (source) DO UPDATE SET
                    listed = 1,
                    state = CASE WHEN videos.size <> excluded.size OR videos.modified_utc <> excluded.modified_utc THEN 'pending' ELSE videos.state END,
                    attempts = CASE WHEN videos.size <> excluded.size OR videos.modified_utc <> excluded.modified_utc THEN 0 ELSE videos.attempts END,
                    content_sha256 = CASE WHEN videos.size <> excluded.size OR videos.modified_utc <> excluded.modified_utc THEN NULL ELSE videos.content_sha256 END,
                    size = excluded.size,
                    modified_utc = excluded.modified_utc
                """, tx))
            {
                var source = upsert.Parameters.Add("$source", SqliteType.Text);
                var size = upsert.Parameters.Add("$size", SqliteType.Integer);
                var modified = upsert.Parameters.Add("$modified", SqliteType.Text);
                upsert.Parameters.AddWithValue("$now", Now());
                await using var exists = Command("SELECT size, modified_utc FROM videos WHERE source = $source", tx);
                var existsSource = exists.Parameters.Add("$source", SqliteType.Text);
                foreach (var video in sorted)
                {
                    var modifiedText = video.ModifiedUtc.UtcDateTime.ToString("O", CultureInfo.InvariantCulture);
                    existsSource.Value = video.Source;
                    await using (var reader = await exists.ExecuteReaderAsync(cancellationToken))
                    {
                        if (!await reader.ReadAsync(cancellationToken))
                        {
                            added++;
                        }
                        else if (reader.GetInt64(0) != video.Size || reader.GetString(1) != modifiedText)
                        {
                            changed++;
                        }
                    }

                    source.Value = video.Source;
                    size.Value = video.Size;
                    modified.Value = modifiedText;
                    await upsert.ExecuteNonQueryAsync(cancellationToken);
                }
            }

            var retryable = new List<long>();
            await using (var failed = Command("SELECT id, error_code FROM videos WHERE listed = 1 AND state = 'failed' AND attempts < $max", tx))
            {
                failed.Parameters.AddWithValue("$max", maxAttempts);
                await using var reader = await failed.ExecuteReaderAsync(cancellationToken);
                while (await reader.ReadAsync(cancellationToken))
                {
                    if (!reader.IsDBNull(1) && ErrorCodes.IsRetryable(reader.GetString(1)))
                    {
                        retryable.Add(reader.GetInt64(0));
                    }
                }
            }

            await using (var retry = Command("UPDATE videos SET state = 'pending' WHERE id = $id", tx))
            {
                var id = retry.Parameters.Add("$id", SqliteType.Integer);
                foreach (var videoId in retryable)
                {
                    id.Value = videoId;
                    await retry.ExecuteNonQueryAsync(cancellationToken);
                }
            }

            var removed = await ScalarAsync<long>("SELECT COUNT(*) FROM videos WHERE listed = 0 AND shard_number IS NOT NULL", cancellationToken, tx);
            await ExecuteAsync("UPDATE videos SET shard_number = NULL, part_name = NULL, part_row = NULL WHERE listed = 0", cancellationToken, tx);
            await AssignShardsAsync(job.ShardSize, tx, cancellationToken);
            await tx.CommitAsync(cancellationToken);
            return new ListingSummary(sorted.Count, added, changed, (int)removed);
        }
        finally
        {
            _gate.Release();
        }
    }

    private async Task AssignShardsAsync(int shardSize, SqliteTransaction tx, CancellationToken cancellationToken)
    {
        var ids = new List<long>();
        await using (var select = Command("SELECT id FROM videos WHERE listed = 1 ORDER BY source COLLATE BINARY", tx))
        await using (var reader = await select.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                ids.Add(reader.GetInt64(0));
            }
        }

        var shardCount = (ids.Count + shardSize - 1) / shardSize;
        await using var setShard = Command("UPDATE videos SET shard_number = $shard WHERE id = $id", tx);
        var shardParam = setShard.Parameters.Add("$shard", SqliteType.Integer);
        var idParam = setShard.Parameters.Add("$id", SqliteType.Integer);
        await using var upsertShard = Command("""
            INSERT INTO shards (part_number, member_hash, state) VALUES ($part, $hash, 'queued')
            ON CONFLICT (part_number) DO UPDATE SET
                state = CASE WHEN shards.member_hash = excluded.member_hash AND shards.state = 'done'
                             AND NOT EXISTS (SELECT 1 FROM videos v WHERE v.shard_number = excluded.part_number AND v.state = 'pending')
                        THEN 'done' ELSE 'queued' END,
                member_hash = excluded.member_hash,
                lease_owner = NULL, lease_token = NULL, lease_expires = NULL
            """, tx);
        var partParam = upsertShard.Parameters.Add("$part", SqliteType.Integer);
        var hashParam = upsertShard.Parameters.Add("$hash", SqliteType.Text);
        var shard = 0;
        foreach (var members in ids.Chunk(shardSize))
        {
            shardParam.Value = shard;
            foreach (var id in members)
            {
                idParam.Value = id;
                await setShard.ExecuteNonQueryAsync(cancellationToken);
            }

            partParam.Value = shard;
            hashParam.Value = MemberHash(members);
            await upsertShard.ExecuteNonQueryAsync(cancellationToken);
            shard++;
        }

        await using var trim = Command("DELETE FROM shards WHERE part_number >= $count", tx);
        trim.Parameters.AddWithValue("$count", shardCount);
        await trim.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>Returns every lease to the queue: at start-up in single-machine mode no other process can hold one.</summary>
    public Task ReclaimAbandonedLeasesAsync(CancellationToken cancellationToken) =>
        LockedAsync(() => ExecuteAsync("UPDATE shards SET state = 'queued', lease_owner = NULL, lease_token = NULL, lease_expires = NULL WHERE state = 'leased'", cancellationToken));

    /// <inheritdoc />
    public async Task<ShardLease?> ClaimShardAsync(string workerId, TimeSpan lease, CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken);
        try
        {
            await using var tx = (SqliteTransaction)await _connection.BeginTransactionAsync(cancellationToken);
            var now = _time.GetUtcNow();
            long? part;
            await using (var pick = Command("""
                SELECT part_number FROM shards
                WHERE state = 'queued' OR (state = 'leased' AND lease_expires < $now)
                ORDER BY part_number LIMIT 1
                """, tx))
            {
                pick.Parameters.AddWithValue("$now", Format(now));
                part = await pick.ExecuteScalarAsync(cancellationToken) as long?;
            }

            if (part is null)
            {
                return null;
            }

            var token = Guid.NewGuid();
            var expires = now + lease;
            await using (var take = Command("UPDATE shards SET state = 'leased', lease_owner = $owner, lease_token = $token, lease_expires = $expires WHERE part_number = $part", tx))
            {
                take.Parameters.AddWithValue("$owner", workerId);
                take.Parameters.AddWithValue("$token", token.ToString());
                take.Parameters.AddWithValue("$expires", Format(expires));
                take.Parameters.AddWithValue("$part", part.Value);
                await take.ExecuteNonQueryAsync(cancellationToken);
            }

            var videos = new List<ShardVideo>();
            await using (var members = Command("""
                SELECT id, source, size, attempts, state, content_sha256, error_code, error_message
                FROM videos WHERE shard_number = $part AND listed = 1 ORDER BY source COLLATE BINARY
                """, tx))
            {
                members.Parameters.AddWithValue("$part", part.Value);
                await using var reader = await members.ExecuteReaderAsync(cancellationToken);
                while (await reader.ReadAsync(cancellationToken))
                {
                    videos.Add(new ShardVideo(
                        reader.GetInt64(0),
                        reader.GetString(1),
                        reader.GetInt64(2),
                        reader.GetInt32(3),
                        ParseState(reader.GetString(4)),
                        reader.IsDBNull(5) ? null : reader.GetString(5),
                        reader.IsDBNull(6) ? null : reader.GetString(6),
                        reader.IsDBNull(7) ? null : reader.GetString(7)));
                }
            }

            await tx.CommitAsync(cancellationToken);
            return new ShardLease(LocalJobId, part.Value, (int)part.Value, videos, token, expires);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <inheritdoc />
    public async Task<bool> RenewLeaseAsync(ShardLease shard, string workerId, TimeSpan lease, CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken);
        try
        {
            await using var renew = Command("UPDATE shards SET lease_expires = $expires WHERE part_number = $part AND lease_token = $token AND state = 'leased'");
            renew.Parameters.AddWithValue("$expires", Format(_time.GetUtcNow() + lease));
            renew.Parameters.AddWithValue("$part", shard.ShardId);
            renew.Parameters.AddWithValue("$token", shard.LeaseToken.ToString());
            return await renew.ExecuteNonQueryAsync(cancellationToken) == 1;
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <inheritdoc />
    public async Task<CachedEmbedding?> FindEmbeddingAsync(string jobId, string contentSha256, CancellationToken cancellationToken)
    {
        var job = _job ?? throw new InvalidOperationException("Call EnsureJobAsync first.");
        await _gate.WaitAsync(cancellationToken);
        try
        {
            await using var find = Command("SELECT vector, duration_s, timestamps_json FROM embeddings WHERE content_sha256 = $sha AND model_key = $key");
            find.Parameters.AddWithValue("$sha", contentSha256);
            find.Parameters.AddWithValue("$key", job.ModelKey);
            await using var reader = await find.ExecuteReaderAsync(cancellationToken);
            if (!await reader.ReadAsync(cancellationToken))
            {
                return null;
            }

            return new CachedEmbedding(
                EmbeddingCodec.FromBytes((byte[])reader.GetValue(0)),
                reader.IsDBNull(1) ? null : reader.GetDouble(1),
                EmbeddingCodec.TimestampsFromJson(reader.GetString(2)));
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <inheritdoc />
    public async Task RecordVideoResultsAsync(ShardLease shard, IReadOnlyList<VideoResult> results, CancellationToken cancellationToken)
    {
        var job = _job ?? throw new InvalidOperationException("Call EnsureJobAsync first.");
        if (results.Count == 0)
        {
            return;
        }

        await _gate.WaitAsync(cancellationToken);
        try
        {
            await using var tx = (SqliteTransaction)await _connection.BeginTransactionAsync(cancellationToken);
            await using var cache = Command("""
                INSERT INTO embeddings (content_sha256, model_key, vector, duration_s, timestamps_json)
                VALUES ($sha, $key, $vector, $duration, $timestamps)
                ON CONFLICT (content_sha256, model_key) DO NOTHING
                """, tx);
            // Idempotent per video: a video already done (recorded by a retried call) is not charged a second attempt.
            await using var video = Command("""
                UPDATE videos SET state = 'done', content_sha256 = $sha, error_code = NULL, error_message = NULL,
                    decode_seconds = $decode, encode_seconds = $encode, updated_utc = $now,
                    attempts = attempts + $attempted
                WHERE id = $id AND state <> 'done'
                """, tx);
            foreach (var result in results.Where(r => r.Succeeded && r.ContentSha256 is not null))
            {
                cache.Parameters.Clear();
                cache.Parameters.AddWithValue("$sha", result.ContentSha256);
                cache.Parameters.AddWithValue("$key", job.ModelKey);
                cache.Parameters.AddWithValue("$vector", EmbeddingCodec.ToBytes(result.Embedding!.Vector));
                cache.Parameters.AddWithValue("$duration", (object?)result.Embedding.DurationSeconds ?? DBNull.Value);
                cache.Parameters.AddWithValue("$timestamps", EmbeddingCodec.TimestampsToJson(result.Embedding.TimestampsSeconds));
                await cache.ExecuteNonQueryAsync(cancellationToken);

                video.Parameters.Clear();
                video.Parameters.AddWithValue("$sha", result.ContentSha256);
                video.Parameters.AddWithValue("$decode", result.DecodeSeconds);
                video.Parameters.AddWithValue("$encode", result.EncodeSeconds);
                video.Parameters.AddWithValue("$now", Now());
                video.Parameters.AddWithValue("$attempted", result.Attempted ? 1 : 0);
                video.Parameters.AddWithValue("$id", result.VideoId);
                await video.ExecuteNonQueryAsync(cancellationToken);
            }

            await tx.CommitAsync(cancellationToken);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <inheritdoc />
    public async Task<bool> CompleteShardAsync(ShardLease shard, ShardCompletion completion, CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken);
        try
        {
            await using var tx = (SqliteTransaction)await _connection.BeginTransactionAsync(cancellationToken);
            await using (var check = Command("SELECT COUNT(*) FROM shards WHERE part_number = $part AND lease_token = $token AND state = 'leased'", tx))
            {
                check.Parameters.AddWithValue("$part", shard.ShardId);
                check.Parameters.AddWithValue("$token", shard.LeaseToken.ToString());
                if ((long)(await check.ExecuteScalarAsync(cancellationToken))! != 1)
                {
                    return false;
                }
            }

            var row = 0;
            var retryLeft = false;
            // A success not recorded before (a cache hit, a copy that shared another's encode) is an attempt of this claim too.
            await using var done = Command("""
                UPDATE videos SET state = 'done', part_name = $part, part_row = $row, content_sha256 = COALESCE($sha, content_sha256), updated_utc = $now,
                    attempts = attempts + CASE WHEN state = 'done' THEN 0 ELSE $attempted END
                WHERE id = $id
                """, tx);
            await using var failed = Command("""
                UPDATE videos SET state = $state, error_code = $code, error_message = $message, part_name = NULL, part_row = NULL,
                    attempts = attempts + $attempted, decode_seconds = $decode, content_sha256 = COALESCE($sha, content_sha256), updated_utc = $now
                WHERE id = $id
                """, tx);
            foreach (var result in completion.Results)
            {
                if (result.Succeeded)
                {
                    done.Parameters.Clear();
                    done.Parameters.AddWithValue("$part", (object?)completion.PartName ?? DBNull.Value);
                    done.Parameters.AddWithValue("$row", row++);
                    done.Parameters.AddWithValue("$sha", (object?)result.ContentSha256 ?? DBNull.Value);
                    done.Parameters.AddWithValue("$now", Now());
                    done.Parameters.AddWithValue("$attempted", result.Attempted ? 1 : 0);
                    done.Parameters.AddWithValue("$id", result.VideoId);
                    await done.ExecuteNonQueryAsync(cancellationToken);
                    continue;
                }

                var previousAttempts = shard.Videos.FirstOrDefault(v => v.VideoId == result.VideoId)?.Attempts ?? 0;
                var attempts = previousAttempts + (result.Attempted ? 1 : 0);
                var code = result.ErrorCode ?? ErrorCodes.Internal;
                var final = !ErrorCodes.IsRetryable(code) || attempts >= completion.MaxAttempts;
                retryLeft |= !final;
                failed.Parameters.Clear();
                failed.Parameters.AddWithValue("$state", final ? "failed" : "pending");
                failed.Parameters.AddWithValue("$code", code);
                failed.Parameters.AddWithValue("$message", (object?)result.Message ?? DBNull.Value);
                failed.Parameters.AddWithValue("$attempted", result.Attempted ? 1 : 0);
                failed.Parameters.AddWithValue("$decode", result.DecodeSeconds);
                failed.Parameters.AddWithValue("$sha", (object?)result.ContentSha256 ?? DBNull.Value);
                failed.Parameters.AddWithValue("$now", Now());
                failed.Parameters.AddWithValue("$id", result.VideoId);
                await failed.ExecuteNonQueryAsync(cancellationToken);
            }

            // A retryable failure with attempts left keeps the shard queued: the next claim retries it.
            await using (var finish = Command("""
                UPDATE shards SET state = $state, part_name = $name, row_count = $rows, lease_owner = NULL, lease_token = NULL, lease_expires = NULL
                WHERE part_number = $part
                """, tx))
            {
                finish.Parameters.AddWithValue("$state", retryLeft ? "queued" : "done");
                finish.Parameters.AddWithValue("$name", (object?)completion.PartName ?? DBNull.Value);
                finish.Parameters.AddWithValue("$rows", row);
                finish.Parameters.AddWithValue("$part", shard.ShardId);
                await finish.ExecuteNonQueryAsync(cancellationToken);
            }

            await tx.CommitAsync(cancellationToken);
            return true;
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <inheritdoc />
    public async Task ReleaseShardAsync(ShardLease shard, CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken);
        try
        {
            await using var release = Command("UPDATE shards SET state = 'queued', lease_owner = NULL, lease_token = NULL, lease_expires = NULL WHERE part_number = $part AND lease_token = $token");
            release.Parameters.AddWithValue("$part", shard.ShardId);
            release.Parameters.AddWithValue("$token", shard.LeaseToken.ToString());
            await release.ExecuteNonQueryAsync(cancellationToken);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Counts of listed videos by state, and of shards still to do.</summary>
    public async Task<LedgerCounts> CountAsync(CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken);
        try
        {
            long pending = 0, done = 0, failed = 0;
            await using (var byState = Command("SELECT state, COUNT(*) FROM videos WHERE listed = 1 GROUP BY state"))
            await using (var reader = await byState.ExecuteReaderAsync(cancellationToken))
            {
                while (await reader.ReadAsync(cancellationToken))
                {
                    var count = reader.GetInt64(1);
                    switch (ParseState(reader.GetString(0)))
                    {
                        case VideoState.Pending: pending = count; break;
                        case VideoState.Done: done = count; break;
                        case VideoState.Failed: failed = count; break;
                    }
                }
            }

            var openShards = await ScalarAsync<long>("SELECT COUNT(*) FROM shards WHERE state <> 'done'", cancellationToken);
            return new LedgerCounts(pending, done, failed, openShards);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Every finally failed listed video, by source path.</summary>
    public async Task<IReadOnlyList<FailureRecord>> ListFailuresAsync(CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken);
        try
        {
            var failures = new List<FailureRecord>();
            await using var select = Command("SELECT source, error_code, error_message, attempts FROM videos WHERE listed = 1 AND state = 'failed' ORDER BY source COLLATE BINARY");
            await using var reader = await select.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                failures.Add(new FailureRecord(reader.GetString(0), reader.IsDBNull(1) ? ErrorCodes.Internal : reader.GetString(1), reader.IsDBNull(2) ? "" : reader.GetString(2), reader.GetInt32(3)));
            }

            return failures;
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>The finished shards that produced a part, in part order.</summary>
    public async Task<IReadOnlyList<PartRecord>> ListPartsAsync(CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken);
        try
        {
            var parts = new List<PartRecord>();
            await using var select = Command("SELECT part_number, part_name, row_count FROM shards WHERE state = 'done' AND part_name IS NOT NULL ORDER BY part_number");
            await using var reader = await select.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                parts.Add(new PartRecord(reader.GetInt32(0), reader.GetString(1), reader.GetInt32(2)));
            }

            return parts;
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Sums of decode and encode seconds over done videos.</summary>
    public async Task<(double Decode, double Encode)> SumTimingsAsync(CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken);
        try
        {
            await using var sum = Command("SELECT COALESCE(SUM(decode_seconds), 0), COALESCE(SUM(encode_seconds), 0) FROM videos WHERE listed = 1");
            await using var reader = await sum.ExecuteReaderAsync(cancellationToken);
            await reader.ReadAsync(cancellationToken);
            return (reader.GetDouble(0), reader.GetDouble(1));
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await _connection.DisposeAsync();
        _gate.Dispose();
    }

    /// <summary>The member hash of a shard: changes when the shard's set of videos changes.</summary>
    internal static string MemberHash(IEnumerable<long> ids) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.ASCII.GetBytes(string.Join(',', ids))))[..16];

    private async Task MigrateAsync(CancellationToken cancellationToken)
    {
        await ExecuteAsync("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_utc TEXT NOT NULL)", cancellationToken);
        var current = await ScalarAsync<long>("SELECT COALESCE(MAX(version), 0) FROM schema_version", cancellationToken);
        foreach (var (version, sql) in SqlScripts.Migrations("Sqlite").Where(m => m.Version > current))
        {
            await using var tx = (SqliteTransaction)await _connection.BeginTransactionAsync(cancellationToken);
            await ExecuteAsync(sql, cancellationToken, tx);
            await using var mark = Command("INSERT INTO schema_version (version, applied_utc) VALUES ($v, $now)", tx);
            mark.Parameters.AddWithValue("$v", version);
            mark.Parameters.AddWithValue("$now", Now());
            await mark.ExecuteNonQueryAsync(cancellationToken);
            await tx.CommitAsync(cancellationToken);
        }
    }

    private async Task LockedAsync(Func<Task> action)
    {
        await _gate.WaitAsync();
        try
        {
            await action();
        }
        finally
        {
            _gate.Release();
        }
    }

    private SqliteCommand Command(string sql, SqliteTransaction? tx = null)
    {
        var command = _connection.CreateCommand();
        command.CommandText = sql;
        command.Transaction = tx;
        return command;
    }

    private async Task ExecuteAsync(string sql, CancellationToken cancellationToken, SqliteTransaction? tx = null)
    {
        await using var command = Command(sql, tx);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    private async Task<T> ScalarAsync<T>(string sql, CancellationToken cancellationToken, SqliteTransaction? tx = null)
    {
        await using var command = Command(sql, tx);
        return (T)Convert.ChangeType((await command.ExecuteScalarAsync(cancellationToken))!, typeof(T), CultureInfo.InvariantCulture);
    }

    private string Now() => Format(_time.GetUtcNow());

    private static string Format(DateTimeOffset time) => time.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fffffff'Z'", CultureInfo.InvariantCulture);

    private static VideoState ParseState(string text) => text switch
    {
        "pending" => VideoState.Pending,
        "done" => VideoState.Done,
        "failed" => VideoState.Failed,
        _ => throw new InvalidDataException($"Unknown video state '{text}' in the ledger."),
    };
}

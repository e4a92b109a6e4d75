using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.CompilerServices;
using Npgsql;
using TempMe.Pipeline.Contracts;
using TempMe.Pipeline.Ledger.Postgres;

namespace TempMe.Pipeline.Cli.Commands;

/// <summary>
/// <c>tempme bench-ledger</c>: the PostgreSQL ledger at scale. In a fresh database (created, then dropped) it registers
/// N synthetic videos through the silo's registration path (binary COPY), runs K concurrent claimers doing
/// claim, RecordVideoResults (fake embeddings) and CompleteShard through the real <see cref="IShardLedger"/>, and times
/// the job status read that <c>GET /api/jobs/{id}</c> makes. Targets: registration under 60 s for 1,000,000 videos,
/// status under 50 ms. With <c>--through-grains</c> the claim phase goes through the Orleans grains of a coordinator
/// silo started in this process (see <c>BenchLedgerCommand.Grains.cs</c>).
/// </summary>
internal static partial class BenchLedgerCommand
{
    private const int EmbeddingSize = 512;

    /// <summary>Creates the command.</summary>
    public static Command Create()
    {
        var db = new Option<string?>("--db") { Description = "PostgreSQL connection string of a server where a scratch database may be created (or set TEMPME_DB)." };
        var videos = new Option<int>("--videos") { Description = "Synthetic videos to register.", DefaultValueFactory = _ => 1_000_000 };
        var shardSize = new Option<int>("--shard-size") { Description = "Videos per shard.", DefaultValueFactory = _ => 100 };
        var claimers = new Option<int>("--claimers") { Description = "Concurrent claimers (each a worker id).", DefaultValueFactory = _ => 8 };
        var seconds = new Option<double>("--seconds") { Description = "How long the claim phase runs at most.", DefaultValueFactory = _ => 20 };
        var shards = new Option<int>("--shards") { Description = "Stop the claim phase after this many shards (0: only --seconds).", DefaultValueFactory = _ => 0 };
        var batch = new Option<int>("--batch") { Description = "Videos per RecordVideoResults call (the worker's encoder batch).", DefaultValueFactory = _ => 4 };
        var calls = new Option<int>("--status-calls") { Description = "Status reads to time.", DefaultValueFactory = _ => 200 };
        var keep = new Option<bool>("--keep") { Description = "Keep the scratch database (its name is printed)." };
        var throughGrains = new Option<bool>("--through-grains") { Description = "Claim, record and complete through the Orleans grains of a coordinator silo started in this process, as workers do." };
        var command = new Command("bench-ledger", "Benchmark: PostgreSQL ledger registration, claim/complete throughput and status latency at scale.")
        {
            db, videos, shardSize, claimers, seconds, shards, batch, calls, keep, throughGrains,
        };
        CommandAction.Set(command, async (parse, cancellationToken) =>
        {
            var settings = new Settings(
                SiloCommand.ConnectionString(parse.GetValue(db)), parse.GetValue(videos), parse.GetValue(shardSize), parse.GetValue(claimers),
                parse.GetValue(seconds), parse.GetValue(shards), parse.GetValue(batch), parse.GetValue(calls), parse.GetValue(keep), parse.GetValue(throughGrains));
            settings.Validate();
            await RunAsync(settings, cancellationToken);
            return ExitCodes.Ok;
        });
        return command;
    }

    private static async Task RunAsync(Settings settings, CancellationToken cancellationToken)
    {
        var admin = new NpgsqlConnectionStringBuilder(settings.Connection) { Pooling = false };
        var name = $"bench_{Guid.NewGuid():N}";
        await ExecAdminAsync(admin.ToString(), $"CREATE DATABASE {name}", cancellationToken);
        var connection = new NpgsqlConnectionStringBuilder(settings.Connection) { Database = name, MaxPoolSize = Math.Max(100, settings.Claimers * 4) }.ToString();
        Print($"database {name} on {admin.Host}:{admin.Port}; {settings.Videos:N0} videos, shard size {settings.ShardSize}, {settings.Claimers} claimers, batch {settings.Batch}; claims {(settings.ThroughGrains ? "through Orleans grains" : "directly on PostgresLedger")}");
        try
        {
            await using var ledger = PostgresLedger.Create(connection);
            await ledger.MigrateAsync(cancellationToken);
            Print(await ServerFactsAsync(connection, cancellationToken));

            // 1. Registration, exactly as the silo does it.
            var spec = new DistributedJobSpec("bench://synthetic/", "bench://output/", "random:vit-b32", 12, settings.ShardSize, 3);
            var jobId = await ledger.CreateJobAsync(spec, cancellationToken);
            var clock = Stopwatch.StartNew();
            var registered = await ledger.RegisterListingAsync(jobId, ct => SyntheticListing(settings.Videos, ct), cancellationToken)
                ?? throw new InvalidOperationException("the job was not queued when registration started.");
            var registerSeconds = clock.Elapsed.TotalSeconds;
            var job = (await ledger.GetJobAsync(jobId, cancellationToken))!;
            Print($"registration: {registered:N0} videos, {job.ShardsTotal:N0} shards in {registerSeconds:0.00} s ({registered / registerSeconds:N0} videos/s); target < 60 s for 1,000,000: {Verdict(registerSeconds * 1_000_000 / Math.Max(1, registered) < 60)}");

            // 2. Status at N videos, before the claim phase (the GET /api/jobs/{id} read).
            var idle = await TimeStatusAsync(ledger, jobId, settings.StatusCalls, cancellationToken);
            Print($"status (idle): {idle}; target < 50 ms: {Verdict(idle.P95 < 50)}");

            // 3. Claim -> record -> complete with K claimers; status sampled meanwhile.
            var claim = settings.ThroughGrains
                ? await GrainClaimPhaseAsync(ledger, connection, jobId, settings, cancellationToken)
                : await ClaimPhaseAsync(ledger, jobId, settings, cancellationToken);
            Print($"claim/complete: {claim.Shards:N0} shards, {claim.Videos:N0} videos in {claim.Seconds:0.00} s = {claim.Shards / claim.Seconds:0.0} shards/s, {claim.Videos / claim.Seconds:N0} videos/s");
            Print($"  claim {claim.Claim}");
            Print($"  record {claim.Record}");
            Print($"  complete {claim.Complete}");
            Print($"status (under claim load): {claim.Status}");

            job = (await ledger.GetJobAsync(jobId, cancellationToken))!;
            if (job.Done != claim.Videos || job.ShardsDone != claim.Shards)
            {
                throw new InvalidOperationException($"counters disagree: job says done={job.Done}, shards_done={job.ShardsDone}; claimers completed {claim.Videos} videos in {claim.Shards} shards.");
            }

            var after = await TimeStatusAsync(ledger, jobId, settings.StatusCalls, cancellationToken);
            Print($"status (after): {after}; target < 50 ms: {Verdict(after.P95 < 50)}");
            Print($"job counters: total {job.Total:N0}, done {job.Done:N0}, pending {job.Pending:N0}, shards {job.ShardsDone:N0}/{job.ShardsTotal:N0}");
        }
        finally
        {
            NpgsqlConnection.ClearAllPools();
            if (settings.Keep)
            {
                Print($"kept database {name}");
            }
            else
            {
                await ExecAdminAsync(admin.ToString(), $"DROP DATABASE IF EXISTS {name} WITH (FORCE)", CancellationToken.None);
                Print($"dropped database {name}");
            }
        }
    }

    // Fixed facts the workers would set; the model key keys the embedding cache.
    private const string ModelKey = "bench-fingerprint/bench-sampling";

    private static async Task<ClaimResult> ClaimPhaseAsync(PostgresLedger ledger, string jobId, Settings settings, CancellationToken cancellationToken)
    {
        await ledger.SetJobModelAsync(jobId, "bench-fingerprint", EmbeddingSize, "bench-sampling", cancellationToken);
        return await ClaimersAsync(ledger, ledger.ForJob(jobId, ModelKey), jobId, settings, cancellationToken);
    }

    /// <summary>
    /// K claimers, each claim → record per batch → complete through <paramref name="view"/> (the ledger directly, or the
    /// worker silo's grain ledger), while job status is read the way the HTTP API reads it.
    /// </summary>
    private static async Task<ClaimResult> ClaimersAsync(PostgresLedger ledger, IShardLedger view, string jobId, Settings settings, CancellationToken cancellationToken)
    {
        var started = DateTimeOffset.UtcNow;
        for (var k = 0; k < settings.Claimers; k++)
        {
            await ledger.ReportWorkerAsync(new WorkerReport(WorkerId(k), Environment.MachineName, started, jobId, 0, 0, 0, 0), cancellationToken);
        }

        var claims = new Latencies();
        var records = new Latencies();
        var completes = new Latencies();
        long shards = 0, videos = 0;
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        stop.CancelAfter(TimeSpan.FromSeconds(settings.Seconds));
        var clock = Stopwatch.StartNew();

        async Task Claimer(int k)
        {
            var worker = WorkerId(k);
            var vector = new float[EmbeddingSize];
            for (var i = 0; i < vector.Length; i++)
            {
                vector[i] = (float)(i % 7) / 7f - 0.5f;
            }

            while (!stop.IsCancellationRequested && (settings.MaxShards == 0 || Interlocked.Read(ref shards) < settings.MaxShards))
            {
                var t = Stopwatch.GetTimestamp();
                var lease = await view.ClaimShardAsync(worker, TimeSpan.FromMinutes(5), CancellationToken.None);
                claims.Add(t);
                if (lease is null)
                {
                    return;
                }

                var results = lease.Videos.Select(v => new VideoResult
                {
                    VideoId = v.VideoId, Source = v.Source, ContentSha256 = Sha(v.VideoId),
                    Embedding = new CachedEmbedding(vector, 10, [0.4, 1.2, 2.0]), DecodeSeconds = 0.1, EncodeSeconds = 0.05,
                }).ToList();
                foreach (var chunk in results.Chunk(settings.Batch))
                {
                    t = Stopwatch.GetTimestamp();
                    await view.RecordVideoResultsAsync(lease, chunk, CancellationToken.None);
                    records.Add(t);
                }

                t = Stopwatch.GetTimestamp();
                var completed = await view.CompleteShardAsync(lease, new ShardCompletion(OutputPart(lease.PartNumber), results, 3), CancellationToken.None);
                completes.Add(t);
                if (!completed)
                {
                    throw new InvalidOperationException($"{worker} lost shard {lease.ShardId} although nobody else could take it.");
                }

                Interlocked.Increment(ref shards);
                Interlocked.Add(ref videos, results.Count);
            }
        }

        // The status read is the HTTP API's: PostgresLedger.GetJobAsync in the coordinator's process, not a grain call.
        var statusUnderLoad = new Latencies();
        async Task StatusSampler()
        {
            while (!stop.IsCancellationRequested)
            {
                var t = Stopwatch.GetTimestamp();
                _ = await ledger.GetJobAsync(jobId, CancellationToken.None);
                statusUnderLoad.Add(t);
                try
                {
                    await Task.Delay(50, stop.Token);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }

        var sampler = Task.Run(StatusSampler, CancellationToken.None);
        await Task.WhenAll(Enumerable.Range(0, settings.Claimers).Select(k => Task.Run(() => Claimer(k), CancellationToken.None)));
        var seconds = clock.Elapsed.TotalSeconds;
        await stop.CancelAsync();
        await sampler;
        cancellationToken.ThrowIfCancellationRequested();
        return new ClaimResult(Interlocked.Read(ref shards), Interlocked.Read(ref videos), seconds, claims.Summary(), records.Summary(), completes.Summary(), statusUnderLoad.Summary());
    }

    private static async Task<Summary> TimeStatusAsync(PostgresLedger ledger, string jobId, int calls, CancellationToken cancellationToken)
    {
        for (var i = 0; i < 5; i++)
        {
            _ = await ledger.GetJobAsync(jobId, cancellationToken);
        }

        var latencies = new Latencies();
        for (var i = 0; i < calls; i++)
        {
            var t = Stopwatch.GetTimestamp();
            _ = await ledger.GetJobAsync(jobId, cancellationToken) ?? throw new InvalidOperationException($"job {jobId} vanished.");
            latencies.Add(t);
        }

        return latencies.Summary();
    }

    /// <summary>A listing in the shape the silo streams from a blob container, without any blob.</summary>
    private static async IAsyncEnumerable<SourceVideo> SyntheticListing(int count, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var modified = new DateTimeOffset(2024, 1, 1, 0, 0, 0, TimeSpan.Zero);
        for (var i = 0; i < count; i++)
        {
            if ((i & 0xFFFF) == 0)
            {
                cancellationToken.ThrowIfCancellationRequested();
                await Task.Yield();
            }

            // Not in sorted order, as a listing across several prefixes would not be: registration sorts.
            var n = (int)(((long)i * 7919) % count);
            yield return new SourceVideo(string.Create(CultureInfo.InvariantCulture, $"bench://synthetic/d{n % 1000:D3}/clip-{n:D8}.mp4"), 1_000_000 + n, modified.AddSeconds(n));
        }
    }

    private static async Task<string> ServerFactsAsync(string connection, CancellationToken cancellationToken)
    {
        await using var conn = new NpgsqlConnection(connection);
        await conn.OpenAsync(cancellationToken);
        await using var cmd = new NpgsqlCommand("SELECT current_setting('server_version'), current_setting('fsync'), current_setting('synchronous_commit'), current_setting('shared_buffers'), current_setting('work_mem')", conn);
        await using var reader = await cmd.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        return $"PostgreSQL {reader.GetString(0)}: fsync={reader.GetString(1)}, synchronous_commit={reader.GetString(2)}, shared_buffers={reader.GetString(3)}, work_mem={reader.GetString(4)}; {Environment.ProcessorCount} CPU(s) visible to this process";
    }

    private static async Task ExecAdminAsync(string connection, string sql, CancellationToken cancellationToken)
    {
        await using var conn = new NpgsqlConnection(connection);
        await conn.OpenAsync(cancellationToken);
        await using var cmd = new NpgsqlCommand(sql, conn);
        await cmd.ExecuteNonQueryAsync(cancellationToken);
    }

    private static string WorkerId(int k) => string.Create(CultureInfo.InvariantCulture, $"bench-claimer-{k}");

    private static string OutputPart(int part) => string.Create(CultureInfo.InvariantCulture, $"embeddings/part-{part:D5}");

    private static string Sha(long videoId) => Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(BitConverter.GetBytes(videoId)));

    private static string Verdict(bool met) => met ? "met" : "MISSED";

    private static void Print(string line) => Console.Out.WriteLine(line);

    private sealed record Settings(string Connection, int Videos, int ShardSize, int Claimers, double Seconds, int MaxShards, int Batch, int StatusCalls, bool Keep, bool ThroughGrains)
    {
        public void Validate()
        {
            if (Videos < 1 || ShardSize < 1 || Claimers < 1 || Batch < 1 || StatusCalls < 1)
            {
                throw new UsageException("--videos, --shard-size, --claimers, --batch and --status-calls must be at least 1.");
            }

            if (!(Seconds > 0) || MaxShards < 0)
            {
                throw new UsageException("--seconds must be positive and --shards not negative.");
            }
        }
    }

    private sealed record ClaimResult(long Shards, long Videos, double Seconds, Summary Claim, Summary Record, Summary Complete, Summary Status);

    private sealed record Summary(int Count, double P50, double P95, double Max)
    {
        public override string ToString() => Count == 0
            ? "no calls"
            : string.Create(CultureInfo.InvariantCulture, $"{Count} calls: p50 {P50:0.00} ms, p95 {P95:0.00} ms, max {Max:0.00} ms");
    }

    /// <summary>Thread-safe list of call durations in milliseconds.</summary>
    private sealed class Latencies
    {
        private readonly List<double> _ms = [];

        public void Add(long startTimestamp)
        {
            var ms = Stopwatch.GetElapsedTime(startTimestamp).TotalMilliseconds;
            lock (_ms)
            {
                _ms.Add(ms);
            }
        }

        public Summary Summary()
        {
            lock (_ms)
            {
                if (_ms.Count == 0)
                {
                    return new Summary(0, 0, 0, 0);
                }

                var sorted = _ms.Order().ToArray();
                double At(double q) => sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(q * sorted.Length) - 1)];
                return new Summary(sorted.Length, At(0.50), At(0.95), sorted[^1]);
            }
        }
    }
}

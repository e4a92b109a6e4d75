using System.Diagnostics;
using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.Runtime;
using TempMe.Pipeline.Contracts;
using TempMe.Pipeline.Grains.Cluster;
using TempMe.Pipeline.Grains.Coordination;
using TempMe.Pipeline.Ledger.Postgres;

namespace TempMe.Pipeline.Cli.Commands;

/// <summary>
/// <c>tempme bench-ledger --through-grains</c>: the claim phase through Orleans. A coordinator silo built as
/// <c>tempme silo</c> builds it (<see cref="TempMeSilo.UseTempMeCluster"/> + <see cref="TempMeSiloRoles.AddTempMeCoordinatorRole"/>,
/// a <see cref="PostgresLedger"/> singleton) runs in this process on the scratch database; the claimers call
/// <see cref="ICorpusJobGrain"/> and <see cref="IShardGrain"/> through that silo's grain factory, the calls a worker
/// silo's <c>GrainShardLedger</c> makes, without a second silo (so no silo-to-silo hop is measured).
/// </summary>
internal static partial class BenchLedgerCommand
{
    private static async Task<ClaimResult> GrainClaimPhaseAsync(PostgresLedger ledger, string connection, string jobId, Settings settings, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        await OrleansSchema.MigrateAsync(OrleansPostgres.ProviderConnectionString(connection), cancellationToken);
        using var host = BuildCoordinator(connection);
        await host.StartAsync(cancellationToken);
        try
        {
            var grains = host.Services.GetRequiredService<IGrainFactory>();
            var silo = host.Services.GetRequiredService<ILocalSiloDetails>().SiloAddress.ToParsableString();
            Print($"coordinator silo {silo} started in {clock.Elapsed.TotalSeconds:0.00} s (this process; default membership settings); claimers call the grains through its IGrainFactory, no worker silo");

            // The job is already listed (registration above is the direct RegisterListingAsync: a synthetic listing has
            // no blob container for the grain to list), so StartAsync only registers the job's reminder, as the silo's submit does.
            var job = grains.GetGrain<ICorpusJobGrain>(jobId);
            await job.StartAsync();
            await job.SetModelAsync("bench-fingerprint", EmbeddingSize, "bench-sampling");
            return await GrainClaimersAsync(ledger, grains, silo, jobId, settings, cancellationToken);
        }
        finally
        {
            await host.StopAsync(CancellationToken.None);
        }
    }

    private static IHost BuildCoordinator(string connection)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { Args = [] });
        builder.Logging.ClearProviders();
        builder.Logging.AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "HH:mm:ss "; });
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.UseOrleans(silo => silo
            .UseTempMeCluster(connection, new ClusterIdentity("bench", "bench"), new SiloEndpoints(0, 0, IPAddress.Loopback), "bench-coordinator")
            .AddTempMeCoordinatorRole(_ => { }));
        builder.Services.AddSingleton(_ => PostgresLedger.Create(connection));
        return builder.Build();
    }

    private static async Task<ClaimResult> GrainClaimersAsync(PostgresLedger ledger, IGrainFactory grains, string silo, string jobId, Settings settings, CancellationToken cancellationToken)
    {
        const string ModelKey = "bench-fingerprint/bench-sampling";
        var started = DateTimeOffset.UtcNow;
        for (var k = 0; k < settings.Claimers; k++)
        {
            await ledger.ReportWorkerAsync(new WorkerReport(WorkerId(k), Environment.MachineName, started, jobId, 0, 0, 0, 0), cancellationToken);
        }

        var job = grains.GetGrain<ICorpusJobGrain>(jobId);
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
                var lease = await job.ClaimShardAsync(worker, silo, TimeSpan.FromMinutes(5));
                claims.Add(t);
                if (lease is null)
                {
                    return;
                }

                var shard = grains.GetGrain<IShardGrain>(ShardKey.Of(lease.JobId, lease.ShardId));
                var results = lease.Videos.Select(v => new VideoResult
                {
                    VideoId = v.VideoId, Source = v.Source, ContentSha256 = Sha(v.VideoId),
                    Embedding = new CachedEmbedding(vector, 10, [0.4, 1.2, 2.0]), DecodeSeconds = 0.1, EncodeSeconds = 0.05,
                }).ToList();
                foreach (var chunk in results.Chunk(settings.Batch))
                {
                    t = Stopwatch.GetTimestamp();
                    await shard.RecordResultsAsync(ModelKey, lease, chunk);
                    records.Add(t);
                }

                t = Stopwatch.GetTimestamp();
                var completed = await shard.CompleteAsync(lease, new ShardCompletion(OutputPart(lease.PartNumber), results, 3));
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
}

using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.Runtime;
using TempMe.Pipeline.Grains.Cluster;
using TempMe.Pipeline.Ledger.Postgres;

namespace TempMe.Pipeline.Worker.Gpu;

/// <summary>
/// <c>tempme worker</c> as an Orleans silo of the worker role: it joins the cluster (so the coordinators learn of its
/// death from membership), hosts no coordination grain, and runs <see cref="WorkerHost"/> beside the silo.
/// </summary>
internal static class WorkerSilo
{
    /// <summary>
    /// Checks that PostgreSQL answers and its schemas are current (applying migrations, as every silo may), then builds
    /// the host. Throws <see cref="WorkerStartException"/> with a message fit for the user.
    /// </summary>
    public static async Task<IHost> BuildAsync(WorkerOptions options, CancellationToken cancellationToken)
    {
        await using (var probe = PostgresLedger.Create(options.ConnectionString, TimeSpan.FromSeconds(3)))
        {
            try
            {
                await probe.MigrateAsync(cancellationToken);
                await OrleansSchema.MigrateAsync(OrleansPostgres.ProviderConnectionString(options.ConnectionString), cancellationToken);
            }
            catch (Exception e) when (e is Npgsql.NpgsqlException or System.Net.Sockets.SocketException or TimeoutException)
            {
                throw new WorkerStartException($"cannot reach PostgreSQL ({e.Message}); check --db / TEMPME_DB and that the server is running.");
            }
            catch (ArgumentException)
            {
                throw new WorkerStartException("--db is not a valid PostgreSQL connection string (expected e.g. Host=127.0.0.1;Port=5432;Username=tempme;Database=tempme).");
            }
        }

        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { Args = [], DisableDefaults = true });
        builder.Logging.ClearProviders();
        builder.Logging.AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "HH:mm:ss "; });
        builder.Logging.SetMinimumLevel(LogLevel.Information);
        builder.Logging.AddFilter("Orleans", LogLevel.Warning);
        builder.Logging.AddFilter("Microsoft", LogLevel.Warning);
        builder.Logging.AddFilter("Polly", LogLevel.Warning);
        builder.UseOrleans(silo => silo
            .UseTempMeCluster(options.ConnectionString, options.Cluster, options.Endpoints, SiloName(options.WorkerId))
            .AddTempMeWorkerRole());
        builder.Services.AddSingleton(options);
        // Registered after the silo, so it stops first: shards are handed back while the silo is still in the cluster.
        builder.Services.AddHostedService<WorkerService>();
        // Long enough to hand back a shard and leave the cluster; the Kubernetes grace period is longer still.
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(90));
        return builder.Build();
    }

    // Silo names show in the membership table and the Orleans dashboard; keep them plain.
    private static string SiloName(string workerId) =>
        string.Concat(workerId.Select(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' ? c : '-'));

    /// <summary>Runs the worker loop once the silo has joined, and stops it (handing shards back) before the silo leaves.</summary>
    private sealed class WorkerService(WorkerOptions options, ILoggerFactory loggers, IGrainFactory grains, ILocalSiloDetails local, IClusterMembershipService membership, IHostApplicationLifetime lifetime) : BackgroundService
    {
        protected override async Task ExecuteAsync(CancellationToken stoppingToken)
        {
            // The silo joins during StartAsync; the loop starts once every hosted service has started.
            var started = new TaskCompletionSource();
            using (lifetime.ApplicationStarted.Register(() => started.TrySetResult()))
            {
                await started.Task.WaitAsync(stoppingToken);
            }

            var silo = local.SiloAddress;
            var host = new WorkerHost(options, loggers.CreateLogger("TempMe.Pipeline.Worker.Gpu"));
            // Readiness also asks PostgreSQL (never retrying): without it membership and every coordinator stall.
            await using var database = PostgresLedger.Create(options.ConnectionString, TimeSpan.FromSeconds(1));
            try
            {
                await host.RunAsync(
                    new GrainJobCoordination(grains, silo.ToParsableString()),
                    async ct => membership.CurrentSnapshot.GetSiloStatus(silo) == SiloStatus.Active && await database.IsReadyAsync(ct),
                    stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                // Unfinished shards were handed back by the pipeline.
            }
        }
    }
}

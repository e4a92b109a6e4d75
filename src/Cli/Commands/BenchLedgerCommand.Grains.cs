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
/// a <see cref="PostgresLedger"/> singleton) runs in this process on the scratch database; the claimers run the worker
/// silo's <c>GrainShardLedger</c> (calls to <see cref="ICorpusJobGrain"/> and <see cref="IShardGrain"/>) over that
/// silo's grain factory, without a second silo (so no silo-to-silo hop is measured).
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
            // The worker silo's own shard ledger (grain calls with its retry on cluster failures), in the same claim loop as the direct mode.
            return await ClaimersAsync(ledger, new Worker.Gpu.GrainShardLedger(grains, silo, jobId, ModelKey), jobId, settings, cancellationToken);
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
}

using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using TempMe.Pipeline.Ledger.Postgres;
using Orleans.Dashboard;
using TempMe.Pipeline.Grains.Cluster;
using TempMe.Pipeline.Hosting;
using TempMe.Pipeline.Dashboard;
using TempMe.Pipeline.Dashboard.Search;
using TempMe.Pipeline.Silo.Dashboard;
using TempMe.Pipeline.Contracts;

namespace TempMe.Pipeline.Silo;

/// <summary>
/// Builds the coordinator: an Orleans silo of the coordinator role (it hosts the job, shard, queue and worker grains)
/// and, in the same process, the HTTP API, our dashboard at <c>/</c> and the Orleans dashboard at <c>/orleans</c>.
/// </summary>
internal static class SiloHost
{
    /// <summary>
    /// Applies migrations (failing fast when PostgreSQL is unreachable) and builds the web application.
    /// Throws <see cref="SiloStartException"/> with a message fit for the user.
    /// </summary>
    public static async Task<WebApplication> BuildAsync(SiloOptions options, CancellationToken cancellationToken)
    {
        PostgresLedger probe;
        try
        {
            probe = PostgresLedger.Create(options.ConnectionString, TimeSpan.FromSeconds(3));
        }
        catch (ArgumentException)
        {
            throw new SiloStartException("--db is not a valid PostgreSQL connection string (expected e.g. Host=127.0.0.1;Port=5432;Username=tempme;Database=tempme).");
        }

        await using (probe)
        {
            try
            {
                await probe.MigrateAsync(cancellationToken);
                await OrleansSchema.MigrateAsync(OrleansPostgres.ProviderConnectionString(options.ConnectionString), cancellationToken);
            }
            catch (Exception e) when (e is Npgsql.NpgsqlException or System.Net.Sockets.SocketException or TimeoutException)
            {
                throw new SiloStartException($"cannot reach PostgreSQL or apply the schema ({SecretRedaction.Redact(e.Message)}); check --db / {SiloOptions.DatabaseVariable} and that the server is running.");
            }
        }

        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [] });
        builder.WebHost.UseUrls(options.Urls.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries));
        builder.Logging.ClearProviders();
        builder.Logging.AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "HH:mm:ss "; });
        builder.Logging.SetMinimumLevel(LogLevel.Information);
        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        builder.Logging.AddFilter("Orleans", LogLevel.Warning);
        builder.Logging.AddFilter("Polly", LogLevel.Warning);
        builder.UseOrleans(silo =>
        {
            silo.UseTempMeCluster(options.ConnectionString, options.Cluster, options.Endpoints, options.SiloName)
                .AddTempMeCoordinatorRole(o =>
                {
                    o.AllowedRoots = options.AllowedRoots;
                    o.JobRetry = options.JobRetry;
                    o.JobTick = options.SweepInterval;
                });
            silo.AddDashboard();
        });
        builder.Services.AddProblemDetails();
        builder.Services.AddSingleton(options);
        builder.Services.AddSingleton(sp =>
        {
            var logger = sp.GetRequiredService<ILoggerFactory>().CreateLogger("TempMe.Pipeline.Silo.Ledger");
            return PostgresLedger.Create(options.ConnectionString, onRetry: (e, delay) => SiloLog.LogWarningDatabaseRetry(logger, delay.TotalSeconds, SecretRedaction.Redact(e.Message)));
        });
        // The Azure SDK's own warnings (failed requests, retries) reach the silo log, with SAS signatures redacted.
        builder.Services.AddSingleton(sp => new TempMe.Pipeline.Storage.AzureSdkLogForwarder(sp.GetRequiredService<ILoggerFactory>()));
        builder.Services.AddHostedService<SiloBackgroundService>();
        builder.Services.AddSingleton<DashboardState>();
        builder.Services.AddSingleton<IndexSearchService>();
        builder.Services.AddHostedService<SiloDashboardService>();
        builder.AddTempMeDefaults("tempme-silo", sp => new TempMeReadiness
        {
            IsReadyAsync = ct => IsReadyAsync(sp, ct),
            NotReadyDetail = "The silo is not active in the cluster, or PostgreSQL is unreachable or its schema is not migrated.",
        });
        // Long enough for the silo to hand its grains over and leave the cluster.
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(30));

        var app = builder.Build();
        app.Services.GetRequiredService<TempMe.Pipeline.Storage.AzureSdkLogForwarder>();
        app.MapTempMeDefaults();
        JobEndpoints.Map(app);
        DashboardEndpoints.Map(app);
        OrleansDashboardEndpoints.Map(app);
        return app;
    }

    // Ready: this silo is active in the cluster (it can host grains and is probed) and PostgreSQL answers.
    private static async Task<bool> IsReadyAsync(IServiceProvider services, CancellationToken cancellationToken)
    {
        var local = services.GetRequiredService<Orleans.Runtime.ILocalSiloDetails>().SiloAddress;
        var membership = services.GetRequiredService<Orleans.Runtime.IClusterMembershipService>();
        return membership.CurrentSnapshot.GetSiloStatus(local) == Orleans.Runtime.SiloStatus.Active
            && await services.GetRequiredService<PostgresLedger>().IsReadyAsync(cancellationToken);
    }
}

/// <summary>The silo cannot start; the message says why and what to do.</summary>
internal sealed class SiloStartException(string message) : Exception(message);

/// <summary>Silo log messages (event ids 5000-5099).</summary>
internal static partial class SiloLog
{
    [LoggerMessage(5000, LogLevel.Warning, "PostgreSQL call failed transiently; retrying in {DelaySeconds:0.0} s: {Message}")]
    public static partial void LogWarningDatabaseRetry(ILogger logger, double delaySeconds, string message);



    [LoggerMessage(5003, LogLevel.Information, "Requeued {Count} shard(s) whose lease expired")]
    public static partial void LogInformationSwept(ILogger logger, int count);


    [LoggerMessage(5005, LogLevel.Warning, "Background pass failed (will retry): {Message}")]
    public static partial void LogWarningBackgroundFailed(ILogger logger, string message);

    [LoggerMessage(5006, LogLevel.Information, "Job {JobId} submitted: {Source} -> {Output}")]
    public static partial void LogInformationSubmitted(ILogger logger, string jobId, string source, string output);

}

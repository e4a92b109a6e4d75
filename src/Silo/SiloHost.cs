using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using TempMe.Pipeline.Ledger.Postgres;
using TempMe.Pipeline.Hosting;
using TempMe.Pipeline.Silo.Dashboard;

namespace TempMe.Pipeline.Silo;

/// <summary>Builds the silo: migrations, HTTP API, background listing, lease sweeper and manifest writer.</summary>
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
            }
            catch (Exception e) when (e is Npgsql.NpgsqlException or System.Net.Sockets.SocketException or TimeoutException)
            {
                throw new SiloStartException($"cannot reach PostgreSQL or apply the schema ({Redact(e.Message)}); check --db / {SiloOptions.DatabaseVariable} and that the server is running.");
            }
        }

        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [] });
        builder.WebHost.UseUrls(options.Urls.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries));
        builder.Logging.ClearProviders();
        builder.Logging.AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "HH:mm:ss "; });
        builder.Logging.SetMinimumLevel(LogLevel.Information);
        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        builder.Services.AddProblemDetails();
        builder.Services.AddSingleton(options);
        builder.Services.AddSingleton(sp =>
        {
            var logger = sp.GetRequiredService<ILoggerFactory>().CreateLogger("TempMe.Pipeline.Silo.Ledger");
            return PostgresLedger.Create(options.ConnectionString, onRetry: (e, delay) => SiloLog.LogWarningDatabaseRetry(logger, delay.TotalSeconds, Redact(e.Message)));
        });
        // The Azure SDK's own warnings (failed requests, retries) reach the silo log, with SAS signatures redacted.
        builder.Services.AddSingleton(sp => new TempMe.Pipeline.Storage.AzureSdkLogForwarder(sp.GetRequiredService<ILoggerFactory>()));
        builder.Services.AddHostedService<SiloBackgroundService>();
        builder.Services.AddSingleton<DashboardState>();
        builder.Services.AddSingleton<Search.IndexSearchService>();
        builder.Services.AddHostedService<SiloDashboardService>();
        builder.AddTempMeDefaults("tempme-silo", sp => new TempMeReadiness
        {
            IsReadyAsync = sp.GetRequiredService<PostgresLedger>().IsReadyAsync,
            NotReadyDetail = "PostgreSQL is unreachable or its schema is not migrated.",
        });
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(10));

        var app = builder.Build();
        app.Services.GetRequiredService<TempMe.Pipeline.Storage.AzureSdkLogForwarder>();
        app.MapTempMeDefaults();
        JobEndpoints.Map(app);
        DashboardEndpoints.Map(app);
        return app;
    }

    /// <summary>Removes anything that looks like a password or key from a message.</summary>
    internal static string Redact(string message) =>
        System.Text.RegularExpressions.Regex.Replace(message, "(?i)(password|pwd|accountkey|sig)=[^;&\\s]*", "$1=***");
}

/// <summary>The silo cannot start; the message says why and what to do.</summary>
internal sealed class SiloStartException(string message) : Exception(message);

/// <summary>Silo log messages (event ids 5000-5099).</summary>
internal static partial class SiloLog
{
    [LoggerMessage(5000, LogLevel.Warning, "PostgreSQL call failed transiently; retrying in {DelaySeconds:0.0} s: {Message}")]
    public static partial void LogWarningDatabaseRetry(ILogger logger, double delaySeconds, string message);

    [LoggerMessage(5001, LogLevel.Information, "Job {JobId}: listed {Count} videos from {Source}")]
    public static partial void LogInformationListed(ILogger logger, string jobId, long count, string source);

    [LoggerMessage(5002, LogLevel.Warning, "Job {JobId}: cannot list the source: {Message}")]
    public static partial void LogWarningListingFailed(ILogger logger, string jobId, string message);

    [LoggerMessage(5003, LogLevel.Information, "Requeued {Count} shard(s) whose lease expired")]
    public static partial void LogInformationSwept(ILogger logger, int count);

    [LoggerMessage(5004, LogLevel.Information, "Job {JobId}: wrote index.json and failures.jsonl to {Output}")]
    public static partial void LogInformationManifest(ILogger logger, string jobId, string output);

    [LoggerMessage(5005, LogLevel.Warning, "Background pass failed (will retry): {Message}")]
    public static partial void LogWarningBackgroundFailed(ILogger logger, string message);

    [LoggerMessage(5006, LogLevel.Information, "Job {JobId} submitted: {Source} -> {Output}")]
    public static partial void LogInformationSubmitted(ILogger logger, string jobId, string source, string output);

    [LoggerMessage(5007, LogLevel.Warning, "Job {JobId}: {Step} failed (job now {State}; retried with backoff): {Message}")]
    public static partial void LogWarningJobRetry(ILogger logger, string jobId, string step, string state, string message);
}

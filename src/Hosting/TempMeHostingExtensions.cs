using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace TempMe.Pipeline.Hosting;

/// <summary>
/// What every TempMe web host shares (silo, worker health listener, <c>tempme index --dashboard</c>): OpenTelemetry
/// (<see cref="TempMeTelemetry"/>) with its Prometheus exporter on <c>/metrics</c> and OTLP when
/// <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> is set, <c>/healthz</c> (the process answers) and <c>/readyz</c>.
/// </summary>
public static class TempMeHostingExtensions
{
    /// <summary>Registers telemetry for <paramref name="serviceName"/> (Prometheus, and OTLP when configured) and the readiness check.</summary>
    public static WebApplicationBuilder AddTempMeDefaults(this WebApplicationBuilder builder, string serviceName, Func<IServiceProvider, TempMeReadiness> readiness)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(readiness);
        builder.Services.AddSingleton(readiness);
        builder.Services.AddTempMeTelemetry(serviceName, prometheus: true);
        return builder;
    }

    /// <summary>Maps <c>/healthz</c>, <c>/readyz</c> and <c>/metrics</c>.</summary>
    public static WebApplication MapTempMeDefaults(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.MapGet("/healthz", () => Results.Text("ok"));
        app.MapGet("/readyz", async (TempMeReadiness readiness, CancellationToken ct) =>
            await readiness.IsReadyAsync(ct)
                ? Results.Text("ready")
                : Results.Problem(title: "not ready", detail: readiness.NotReadyDetail, statusCode: StatusCodes.Status503ServiceUnavailable));
        app.MapPrometheusScrapingEndpoint("/metrics");
        return app;
    }

    /// <summary>
    /// For a process without a web listener: a bare host that exports the TempMe meter through OTLP when
    /// <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> is set, or <see langword="null"/> when it is not. Disposing it stops the host,
    /// which flushes the exporter.
    /// </summary>
    public static async Task<IAsyncDisposable?> StartOtlpHostIfConfiguredAsync(string serviceName, CancellationToken cancellationToken)
    {
        if (!TempMeTelemetry.OtlpConfigured)
        {
            return null;
        }

        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());

        // The exporter reads OTEL_* (endpoint, protocol, headers, export interval) through configuration.
        builder.Configuration.AddEnvironmentVariables();
        builder.Services.AddTempMeTelemetry(serviceName, prometheus: false);
        var host = builder.Build();
        await host.StartAsync(cancellationToken);
        return new StoppingHost(host);
    }

    private sealed class StoppingHost(IHost host) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            await host.StopAsync(CancellationToken.None);
            host.Dispose();
        }
    }
}

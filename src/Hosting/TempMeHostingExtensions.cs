using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using TempMe.Pipeline.Pipeline;

namespace TempMe.Pipeline.Hosting;

/// <summary>How a host answers <c>/readyz</c>.</summary>
public sealed class TempMeReadiness
{
    /// <summary>Whether the host can do its work (e.g. the database answers and is migrated); never throws.</summary>
    public required Func<CancellationToken, Task<bool>> IsReadyAsync { get; init; }

    /// <summary>The problem detail returned with 503 when not ready.</summary>
    public string NotReadyDetail { get; init; } = "Not ready.";
}

/// <summary>
/// What every TempMe web host shares (silo, worker health listener, <c>tempme index --dashboard</c>): the
/// <c>TempMe.Pipeline</c> meter exported as Prometheus text on <c>/metrics</c> and through OTLP when
/// <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> is set, <c>/healthz</c> (the process answers) and <c>/readyz</c>.
/// </summary>
public static class TempMeHostingExtensions
{
    /// <summary>The environment variable that turns the OTLP exporter on (the exporter reads its other OTEL_* settings itself).</summary>
    public const string OtlpEndpointVariable = "OTEL_EXPORTER_OTLP_ENDPOINT";

    private static readonly Lock OtlpLock = new();
    private static MeterProvider? _otlp;
    private static bool _otlpStarted;

    /// <summary>Registers the Prometheus collector, the readiness check and (when configured) the OTLP exporter.</summary>
    public static WebApplicationBuilder AddTempMeDefaults(this WebApplicationBuilder builder, Func<IServiceProvider, TempMeReadiness> readiness)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(readiness);
        StartOtlpIfConfigured();
        builder.Services.AddSingleton(readiness);
        builder.Services.AddSingleton(_ => new PrometheusMetrics(PipelineMetrics.MeterName));
        return builder;
    }

    /// <summary>Maps <c>/healthz</c>, <c>/readyz</c> and <c>/metrics</c>.</summary>
    public static WebApplication MapTempMeDefaults(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);

        // Created now, so measurements made before the first scrape are counted.
        _ = app.Services.GetRequiredService<PrometheusMetrics>();
        app.MapGet("/healthz", () => Results.Text("ok"));
        app.MapGet("/readyz", async (TempMeReadiness readiness, CancellationToken ct) =>
            await readiness.IsReadyAsync(ct)
                ? Results.Text("ready")
                : Results.Problem(title: "not ready", detail: readiness.NotReadyDetail, statusCode: StatusCodes.Status503ServiceUnavailable));
        app.MapGet("/metrics", (PrometheusMetrics metrics) => Results.Text(metrics.Write(), PrometheusMetrics.ContentType));
        return app;
    }

    /// <summary>
    /// Starts the process-wide OTLP metrics exporter once when <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> is set (a no-op
    /// otherwise); it is flushed and stopped when the process exits. Hosts without a web listener call it directly.
    /// </summary>
    public static void StartOtlpIfConfigured()
    {
        lock (OtlpLock)
        {
            if (_otlpStarted)
            {
                return;
            }

            _otlpStarted = true;
            if (string.IsNullOrWhiteSpace(Environment.GetEnvironmentVariable(OtlpEndpointVariable)))
            {
                return;
            }

            _otlp = Sdk.CreateMeterProviderBuilder().AddMeter(PipelineMetrics.MeterName).AddOtlpExporter().Build();
            AppDomain.CurrentDomain.ProcessExit += (_, _) => _otlp?.Dispose();
        }
    }
}

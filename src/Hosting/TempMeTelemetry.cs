using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;
using TempMe.Pipeline.Contracts;

namespace TempMe.Pipeline.Hosting;

/// <summary>
/// OpenTelemetry for every TempMe host (through <c>OpenTelemetry.Extensions.Hosting</c>): the <c>TempMe.Pipeline</c>
/// meter plus the ASP.NET Core, HttpClient, .NET runtime and Npgsql instrumentations, exported to Prometheus on
/// <c>/metrics</c> (web hosts) and through OTLP when <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> is set.
/// </summary>
public static class TempMeTelemetry
{
    /// <summary>The environment variable that turns the OTLP exporter on (the exporter reads its other OTEL_* settings itself).</summary>
    public const string OtlpEndpointVariable = "OTEL_EXPORTER_OTLP_ENDPOINT";

    /// <summary>Histogram bucket bounds in seconds of the TempMe histograms (stage timings: milliseconds up to the 120 s decode limit).</summary>
    public static IReadOnlyList<double> SecondsBuckets { get; } = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

    /// <summary>Whether <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> is set.</summary>
    public static bool OtlpConfigured => !string.IsNullOrWhiteSpace(Environment.GetEnvironmentVariable(OtlpEndpointVariable));

    /// <summary>
    /// Registers OpenTelemetry metrics (and, with OTLP, traces) for a host named <paramref name="serviceName"/>; with
    /// <paramref name="prometheus"/> the Prometheus exporter whose endpoint <c>MapTempMeDefaults</c> maps.
    /// </summary>
    public static IServiceCollection AddTempMeTelemetry(this IServiceCollection services, string serviceName, bool prometheus)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentException.ThrowIfNullOrWhiteSpace(serviceName);
        var otlp = OtlpConfigured;
        var telemetry = services.AddOpenTelemetry().ConfigureResource(r =>
        {
            // OTEL_SERVICE_NAME, read by the SDK's own detector, names the service when set.
            if (string.IsNullOrWhiteSpace(Environment.GetEnvironmentVariable("OTEL_SERVICE_NAME")))
            {
                r.AddService(serviceName);
            }
        });
        telemetry.WithMetrics(metrics =>
        {
            metrics.AddMeter(TelemetryNames.MeterName)
                .AddAspNetCoreInstrumentation()
                .AddHttpClientInstrumentation()
                .AddRuntimeInstrumentation()
                .AddNpgsqlInstrumentation()
                .AddView(View);
            if (prometheus)
            {
                metrics.AddPrometheusExporter(o =>
                {
                    // Same exposition as before: read at every scrape, no otel_scope_* labels, no target_info family.
                    o.ScrapeResponseCacheDurationMilliseconds = 0;
                    o.ScopeInfoEnabled = false;
                    o.TargetInfoEnabled = false;
                });
            }

            if (otlp)
            {
                metrics.AddOtlpExporter();
            }
        });
        if (otlp)
        {
            // Traces have no Prometheus form: they are only collected when there is somewhere to send them.
            telemetry.WithTracing(tracing => tracing.AddAspNetCoreInstrumentation().AddHttpClientInstrumentation().AddNpgsql().AddOtlpExporter());
        }

        return services;
    }

    /// <summary>
    /// Instruments of the runtime and Npgsql whose Prometheus names would end in <c>_count</c> without being histograms,
    /// which Prometheus reserves for histogram and summary parts (<c>promtool check metrics</c> rejects them), and the
    /// names they are exported under instead.
    /// </summary>
    public static IReadOnlyDictionary<string, string> Renamed { get; } = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["db.client.connection.count"] = "db.client.connections",
        ["dotnet.assembly.count"] = "dotnet.assemblies",
        ["dotnet.process.cpu.count"] = "dotnet.process.cpus",
        ["dotnet.timer.count"] = "dotnet.timers",
    };

    /// <summary>
    /// The tags kept, per meter, of the instrumentations whose other tags name addresses: Npgsql's pool name is the
    /// connection string (host, port, user, database), and server, peer, DNS and listen addresses come with HTTP,
    /// DNS and Kestrel measurements. <c>/metrics</c> is public and shows no addresses (docs/DISTRIBUTED.md).
    /// </summary>
    public static IReadOnlyDictionary<string, string[]> KeptTags { get; } = new Dictionary<string, string[]>(StringComparer.Ordinal)
    {
        ["Npgsql"] = ["db.client.connection.state", "db.system.name", "db.operation.name", "db.response.status_code", "error.type"],
        ["System.Net.Http"] = ["http.request.method", "http.response.status_code", "http.connection.state", "network.protocol.version", "url.scheme", "error.type"],
        ["System.Net.NameResolution"] = ["error.type"],
        ["Microsoft.AspNetCore.Server.Kestrel"] = ["network.transport", "network.type", "network.protocol.name", "network.protocol.version", "tls.protocol.version", "error.type"],
    };

    private static MetricStreamConfiguration? View(Instrument instrument)
    {
        // Our histograms keep the seconds buckets dashboards and alerts were written against (the SDK's defaults are for milliseconds).
        if (instrument.Meter.Name == TelemetryNames.MeterName && instrument is Histogram<double>)
        {
            return new ExplicitBucketHistogramConfiguration { Boundaries = [.. SecondsBuckets] };
        }

        var name = Renamed.GetValueOrDefault(instrument.Name);
        var tags = KeptTags.GetValueOrDefault(instrument.Meter.Name);
        return name is null && tags is null ? null : new MetricStreamConfiguration { Name = name, TagKeys = tags };
    }
}

using System.Globalization;
using System.Net;
using System.Text.Json;
using TempMe.Pipeline.Testing;
using TempMe.Pipeline.Testing.Cluster;

namespace TempMe.Pipeline.Dashboard.Tests;

/// <summary>A real Prometheus server scrapes a running silo and worker; promtool lints what they expose.</summary>
[Collection(DashboardCollection.Name)]
public sealed class PrometheusScrapeTests(DashboardFixture fixture)
{
    [Fact]
    public async Task Prometheus_scrapes_the_silo_and_worker_and_promtool_accepts_their_exposition()
    {
        // A password in the connection string (trust auth ignores it): it must not leak into a label (Npgsql names its pools).
        const string Password = "pw-never-in-metrics-7f3a";
        var workerPort = DashboardFixture.FreePort();
        using var cluster = fixture.NewCluster(
            fixture.CreateDatabase() + $";Password={Password}", worker: (database, workerId) => DashboardFixture.StartWorker(database, workerId, workerPort));
        var silo = cluster.StartSilo();
        var siloPort = cluster.Port;
        var worker = cluster.AddWorker("prom-worker-1");
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        await TestCluster.WaitStatusAsync(http, $"http://127.0.0.1:{siloPort}/readyz", HttpStatusCode.OK, TimeSpan.FromSeconds(60), cluster.Processes);
        await TestCluster.WaitStatusAsync(http, $"http://127.0.0.1:{workerPort}/readyz", HttpStatusCode.OK, TimeSpan.FromSeconds(60), cluster.Processes);

        foreach (var (name, port) in new[] { ("silo", siloPort), ("worker", workerPort) })
        {
            var text = await http.GetStringAsync($"http://127.0.0.1:{port}/metrics");
            var (exitCode, lint) = PrometheusServer.CheckMetrics(text);
            Assert.True(exitCode == 0 && lint.Trim().Length == 0, $"promtool check metrics failed on the {name}'s /metrics (exit {exitCode}):\n{lint}");
            // The endpoint is public and shows no addresses: not the database's (Npgsql's pool name), nor our own listen address.
            Assert.DoesNotContain(Password, text, StringComparison.Ordinal);
            Assert.DoesNotContain("Host=", text, StringComparison.Ordinal);
            Assert.DoesNotContain("127.0.0.1", text, StringComparison.Ordinal);
            Assert.DoesNotContain("server_address", text, StringComparison.Ordinal);
            Assert.Contains("db_client_operation_duration_seconds_count", text, StringComparison.Ordinal);
            Assert.DoesNotContain("otel_scope_", text, StringComparison.Ordinal);
            PrometheusText.Parse(text);
        }

        using var prometheus = PrometheusServer.Start(new Dictionary<string, string>
        {
            ["tempme-silo"] = $"127.0.0.1:{siloPort}",
            ["tempme-worker"] = $"127.0.0.1:{workerPort}",
        });

        // The series the HPA/KEDA rules query, with the value the silo computes (no job: nothing queued).
        var depth = Assert.Single((await prometheus.QueryUntilFoundAsync("tempme_queue_depth", TimeSpan.FromSeconds(60))).EnumerateArray());
        Assert.Equal("tempme-silo", depth.GetProperty("metric").GetProperty("job").GetString());
        Assert.Equal(0, Value(depth));
        foreach (var series in new[] { "tempme_active_leases", "tempme_lease_expirations", "tempme_retries", "tempme_ledger_videos_done_total", "tempme_ledger_videos_failed_total" })
        {
            var found = Assert.Single((await prometheus.QueryUntilFoundAsync(series, TimeSpan.FromSeconds(30))).EnumerateArray());
            Assert.Equal(0, Value(found));
        }

        // Both targets are up, and the worker's runtime metrics arrive through the same scrape.
        foreach (var job in new[] { "tempme-silo", "tempme-worker" })
        {
            var up = Assert.Single((await prometheus.QueryUntilFoundAsync($"up{{job=\"{job}\"}}", TimeSpan.FromSeconds(30))).EnumerateArray());
            Assert.True(Value(up) == 1, $"{job} is not up in Prometheus\n{prometheus.Output}");
        }

        await prometheus.QueryUntilFoundAsync("dotnet_gc_collections_total{job=\"tempme-worker\"}", TimeSpan.FromSeconds(30));
        Assert.False(silo.HasExited, silo.Output);
        Assert.False(worker.HasExited, worker.Output);
    }

    [Fact]
    public async Task With_OTEL_EXPORTER_OTLP_ENDPOINT_the_silo_and_a_worker_without_a_listener_export_through_OTLP()
    {
        using var receiver = new OtlpReceiver();
        var otel = new Dictionary<string, string?>
        {
            ["OTEL_EXPORTER_OTLP_ENDPOINT"] = receiver.Endpoint,
            ["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf",
            ["OTEL_METRIC_EXPORT_INTERVAL"] = "500",
            ["TEMPME_DB"] = null,
        };
        using var cluster = fixture.NewCluster(
            silo: (database, httpPort) => new TempmeProcess(
                ["silo", "--db", database, "--urls", $"http://127.0.0.1:{httpPort}", "--allowed-roots", fixture.Root],
                new Dictionary<string, string?>(otel) { ["TEMPME_API_TOKEN"] = DashboardFixture.Token }),

            // No --health-urls: the worker has no web host, so its bare OTLP host is what exports.
            worker: (database, workerId) => new TempmeProcess(["worker", "--db", database, "--worker-id", workerId], otel));
        var silo = cluster.StartSilo();
        var worker = cluster.AddWorker("otlp-worker-1");

        Assert.True(
            await receiver.WaitForAsync("/v1/metrics", TimeSpan.FromSeconds(60), "tempme-silo", "tempme.queue.depth"),
            $"no OTLP metrics with tempme.queue.depth from the silo ({receiver.Summary()})\n{TestCluster.Dump([silo])}");
        Assert.True(
            await receiver.WaitForAsync("/v1/metrics", TimeSpan.FromSeconds(60), "tempme-worker", "dotnet.gc.collections"),
            $"no OTLP metrics from the worker ({receiver.Summary()})\n{TestCluster.Dump([worker])}");
        Assert.False(silo.HasExited, silo.Output);
        Assert.False(worker.HasExited, worker.Output);
    }

    private static double Value(JsonElement series) =>
        double.Parse(series.GetProperty("value")[1].GetString()!, NumberStyles.Float, CultureInfo.InvariantCulture);
}

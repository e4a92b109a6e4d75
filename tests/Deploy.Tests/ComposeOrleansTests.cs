using System.Globalization;
using System.Text.RegularExpressions;
using TempMe.Pipeline.Testing;
using YamlDotNet.RepresentationModel;

namespace TempMe.Pipeline.Deploy.Tests;

/// <summary>In deploy/compose.yaml the silo and the workers join one Orleans cluster and get time to leave it.</summary>
public sealed partial class ComposeOrleansTests
{
    private static YamlNode Services => Yaml.LoadFile(Path.Combine(RepoPaths.Root, "deploy", "compose.yaml")).Get("services")!;

    [Fact]
    public void Silo_and_workers_name_the_same_orleans_cluster_and_ports()
    {
        var services = Services;
        foreach (var env in new[] { "TEMPME_CLUSTER_ID", "TEMPME_SERVICE_ID", "TEMPME_SILO_PORT", "TEMPME_GATEWAY_PORT" })
        {
            var silo = Env(services.Get("silo"), env);
            Assert.False(string.IsNullOrEmpty(silo), $"compose silo sets no {env}");
            Assert.Equal(silo, Env(services.Get("worker"), env));
        }

        foreach (var name in new[] { "silo", "worker" })
        {
            var exposed = services.Path(name, "expose").Items().Select(n => ((YamlScalarNode)n).Value).ToList();
            Assert.Contains(Env(services.Get(name), "TEMPME_SILO_PORT"), exposed);

            // Replicas share the ports, so none may be published on the host.
            Assert.DoesNotContain(services.Path(name, "ports").Items(), p => ((YamlScalarNode)p).Value!.Contains("11111", StringComparison.Ordinal));
        }
    }

    [Fact]
    public void The_silo_gets_more_than_the_host_shutdown_timeout_to_leave_the_cluster()
    {
        // compose's default is 10 s; the .NET host may take 30 s to stop the Orleans silo.
        Assert.True(Seconds(Services.Str("silo", "stop_grace_period")) > 30, "compose silo needs stop_grace_period above 30 s");
        Assert.True(Seconds(Services.Str("worker", "stop_grace_period")) >= 120, "compose worker needs stop_grace_period of at least 120 s");
    }

    private static string? Env(YamlNode? service, string name) =>
        service.Get("environment").Entries().Where(e => e.Key == name).Select(e => ((YamlScalarNode)e.Value).Value).LastOrDefault();

    private static int Seconds(string? duration)
    {
        var match = Duration().Match(duration ?? "");
        Assert.True(match.Success, $"stop_grace_period '{duration}' is not like 60s or 2m");
        var n = int.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture);
        return match.Groups[2].Value == "m" ? n * 60 : n;
    }

    [GeneratedRegex(@"^(\d+)(s|m)$")]
    private static partial Regex Duration();
}

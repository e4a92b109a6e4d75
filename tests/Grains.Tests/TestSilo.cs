using System.Net;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.Configuration;
using Orleans.Hosting;
using TempMe.Pipeline.Grains.Cluster;

namespace TempMe.Pipeline.Grains.Tests;

/// <summary>The silo host every test silo runs, in this process or in a child process (see <see cref="SiloProgram"/>).</summary>
internal static class TestSilo
{
    /// <summary>The service id of every test cluster.</summary>
    public const string ServiceId = "tempme-test";

    /// <summary>A silo named <paramref name="name"/> in cluster <paramref name="clusterId"/>, on free loopback ports.</summary>
    public static IHost Build(string connectionString, string clusterId, string name)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.UseOrleans(silo =>
        {
            silo.UseTempMePostgres(connectionString, clusterId, ServiceId)
                .UseTempMeEndpoints(new SiloEndpoints(0, 0, IPAddress.Loopback));
            silo.Configure<SiloOptions>(o => o.SiloName = name);
            silo.Configure<ClusterMembershipOptions>(o =>
            {
                // Short liveness so a killed silo is declared dead within seconds (defaults take 10-60 s).
                o.ProbeTimeout = TimeSpan.FromSeconds(1);
                o.NumMissedProbesLimit = 2;
                o.NumVotesForDeathDeclaration = 1;
                o.IAmAliveTablePublishTimeout = TimeSpan.FromSeconds(5);
                o.TableRefreshTimeout = TimeSpan.FromSeconds(2);
            });
            silo.Configure<ReminderOptions>(o => o.MinimumReminderPeriod = TimeSpan.FromSeconds(1));
        });
        return builder.Build();
    }
}

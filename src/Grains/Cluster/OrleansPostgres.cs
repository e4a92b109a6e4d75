using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Orleans.Configuration;
using Orleans.Hosting;
using Orleans.Serialization;
using Orleans.Storage;

namespace TempMe.Pipeline.Grains.Cluster;

/// <summary>
/// Wires Orleans silos and clients to PostgreSQL through the ADO.NET providers and the tables
/// <see cref="OrleansSchema.MigrateAsync"/> creates: membership (clustering), grain state and reminders.
/// Run <see cref="OrleansSchema.MigrateAsync"/> before the first silo starts; the providers read their queries at start.
/// </summary>
public static class OrleansPostgres
{
    /// <summary>
    /// The connection string the providers get: the session time zone pinned to UTC (the providers pass UTC times and
    /// read them back; a server whose zone is not UTC must not shift them) and an application name for pg_stat_activity.
    /// </summary>
    public static string ProviderConnectionString(string connectionString)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(connectionString);
        var builder = new NpgsqlConnectionStringBuilder(connectionString);
        builder.Timezone ??= "UTC";
        builder.ApplicationName ??= "tempme-orleans";
        return builder.ToString();
    }

    /// <summary>Joins the silo to cluster <paramref name="clusterId"/> of service <paramref name="serviceId"/> through the membership tables.</summary>
    public static ISiloBuilder UseTempMePostgresClustering(this ISiloBuilder silo, string connectionString, string clusterId, string serviceId)
    {
        ArgumentNullException.ThrowIfNull(silo);
        var providerConnection = ProviderConnectionString(connectionString);
        silo.Configure<ClusterOptions>(o => SetCluster(o, clusterId, serviceId));
        return silo.UseAdoNetClustering(o =>
        {
            o.Invariant = OrleansNames.Invariant;
            o.ConnectionString = providerConnection;
        });
    }

    /// <summary>Points a client at the gateways the membership tables list for cluster <paramref name="clusterId"/>.</summary>
    public static IClientBuilder UseTempMePostgresClustering(this IClientBuilder client, string connectionString, string clusterId, string serviceId)
    {
        ArgumentNullException.ThrowIfNull(client);
        var providerConnection = ProviderConnectionString(connectionString);
        client.Configure<ClusterOptions>(o => SetCluster(o, clusterId, serviceId));
        return client.UseAdoNetClustering(o =>
        {
            o.Invariant = OrleansNames.Invariant;
            o.ConnectionString = providerConnection;
        });
    }

    /// <summary>
    /// Adds the grain storage <paramref name="name"/> (<see cref="OrleansNames.JobStorage"/> by default) on PostgreSQL.
    /// State is written with the Orleans serializer, so stored state names types by their pinned <c>[Alias]</c> and
    /// fields by <c>[Id]</c>, not by CLR names: renaming a class or namespace does not orphan stored state.
    /// </summary>
    public static ISiloBuilder AddTempMePostgresGrainStorage(this ISiloBuilder silo, string connectionString, string name = OrleansNames.JobStorage)
    {
        ArgumentNullException.ThrowIfNull(silo);
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        var providerConnection = ProviderConnectionString(connectionString);
        return silo.AddAdoNetGrainStorage(name, options => options
            .Configure<Serializer>((o, serializer) =>
            {
                o.Invariant = OrleansNames.Invariant;
                o.ConnectionString = providerConnection;
                o.GrainStorageSerializer = new OrleansGrainStorageSerializer(serializer);
            }));
    }

    /// <summary>Keeps reminders in the reminders table, so a reminder outlives the silo it was registered on.</summary>
    public static ISiloBuilder UseTempMePostgresReminders(this ISiloBuilder silo, string connectionString)
    {
        ArgumentNullException.ThrowIfNull(silo);
        var providerConnection = ProviderConnectionString(connectionString);
        return silo.UseAdoNetReminderService(o =>
        {
            o.Invariant = OrleansNames.Invariant;
            o.ConnectionString = providerConnection;
        });
    }

    /// <summary>Listens on <paramref name="endpoints"/> (0 ports become free ports now) on every host address.</summary>
    /// <exception cref="ArgumentException">A port is out of range or the two ports clash.</exception>
    public static ISiloBuilder UseTempMeEndpoints(this ISiloBuilder silo, SiloEndpoints endpoints)
    {
        ArgumentNullException.ThrowIfNull(silo);
        ArgumentNullException.ThrowIfNull(endpoints);
        var resolved = endpoints.Resolve();
        var gateway = resolved.HasGateway ? resolved.GatewayPort : 0; // 0: no gateway
        return resolved.AdvertisedAddress is { } address
            ? silo.ConfigureEndpoints(address, resolved.SiloPort, gateway, listenOnAnyHostAddress: true)
            : silo.ConfigureEndpoints(resolved.SiloPort, gateway, listenOnAnyHostAddress: true);
    }

    /// <summary>Clustering, the job grain storage and reminders on one database: what every TempMe silo needs.</summary>
    public static ISiloBuilder UseTempMePostgres(this ISiloBuilder silo, string connectionString, string clusterId, string serviceId) =>
        silo.UseTempMePostgresClustering(connectionString, clusterId, serviceId)
            .AddTempMePostgresGrainStorage(connectionString)
            .UseTempMePostgresReminders(connectionString);

    private static void SetCluster(ClusterOptions options, string clusterId, string serviceId)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(clusterId);
        ArgumentException.ThrowIfNullOrWhiteSpace(serviceId);
        options.ClusterId = clusterId;
        options.ServiceId = serviceId;
    }
}

using Orleans.Configuration;
using Orleans.Hosting;

namespace TempMe.Pipeline.Grains.Cluster;

/// <summary>What every TempMe silo, coordinator or worker, is built with.</summary>
public static class TempMeSilo
{
    /// <summary>
    /// Joins <paramref name="identity"/>'s cluster through PostgreSQL (membership, grain storage, reminders), listens on
    /// <paramref name="endpoints"/>, and names the silo <paramref name="name"/> in the membership table and the
    /// Orleans dashboard. Membership keeps Orleans' default liveness settings: they tolerate a silo whose CPU is
    /// saturated by encoding (tighter settings evicted such silos in measurements here).
    /// </summary>
    public static ISiloBuilder UseTempMeCluster(this ISiloBuilder silo, string connectionString, ClusterIdentity identity, SiloEndpoints endpoints, string name)
    {
        ArgumentNullException.ThrowIfNull(silo);
        ArgumentNullException.ThrowIfNull(identity);
        silo.UseTempMePostgres(connectionString, identity.ClusterId, identity.ServiceId)
            .UseTempMeEndpoints(endpoints);
        silo.Configure<SiloOptions>(o => o.SiloName = name);
        if (identity.Kubernetes)
        {
            // Reads POD_NAME, POD_NAMESPACE, POD_IP and the ORLEANS_* ids the manifests set, and removes silos whose pods are gone.
            silo.UseKubernetesHosting();
        }

        return silo;
    }
}

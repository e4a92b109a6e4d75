namespace TempMe.Pipeline.Grains.Cluster;

/// <summary>
/// Which Orleans cluster a silo joins: <c>--cluster-id</c> (one deployment; silos of different clusters in one database
/// never see each other) and <c>--service-id</c> (the service across deployments; grain state and reminders are
/// keyed by it, so keep it stable across upgrades). <see cref="Kubernetes"/> adds Orleans' Kubernetes hosting, which
/// takes the ids and the pod's address from the environment the manifests set.
/// </summary>
/// <param name="ClusterId">The cluster id (env <c>TEMPME_CLUSTER_ID</c>).</param>
/// <param name="ServiceId">The service id (env <c>TEMPME_SERVICE_ID</c>).</param>
/// <param name="Kubernetes">Whether to use Kubernetes hosting (env <c>TEMPME_ORLEANS_KUBERNETES=true</c>).</param>
public sealed record ClusterIdentity(string ClusterId, string ServiceId, bool Kubernetes = false)
{
    /// <summary>Environment variable of the cluster id.</summary>
    public const string ClusterIdVariable = "TEMPME_CLUSTER_ID";

    /// <summary>Environment variable of the service id.</summary>
    public const string ServiceIdVariable = "TEMPME_SERVICE_ID";

    /// <summary>Environment variable that turns on Kubernetes hosting.</summary>
    public const string KubernetesVariable = "TEMPME_ORLEANS_KUBERNETES";

    /// <summary>The ids when none are given: <c>tempme</c> and <c>tempme</c>.</summary>
    public static ClusterIdentity Default { get; } = new("tempme", "tempme");

    /// <summary>
    /// Checks the ids and returns null when they are usable, else a message naming the option and the fix.
    /// </summary>
    public string? Problem()
    {
        foreach (var (option, value) in new[] { ("--cluster-id", ClusterId), ("--service-id", ServiceId) })
        {
            if (string.IsNullOrWhiteSpace(value) || value.Length > 150 || !value.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.'))
            {
                return $"{option} '{value}' is not usable: give 1-150 letters, digits, '-', '_' or '.'.";
            }
        }

        return null;
    }
}

using System.Globalization;
using YamlDotNet.RepresentationModel;

namespace TempMe.Pipeline.Deploy.Tests;

/// <summary>
/// Evaluates the rendered NetworkPolicies for a TCP connection between two workloads of the same namespace, the way
/// Kubernetes does: a pod no policy of that direction selects is not isolated; otherwise one rule of one policy must
/// admit the port and the peer. Only the selector forms the manifests use are understood; others fail the test.
/// </summary>
internal static class NetworkPolicies
{
    /// <summary>Whether pods of <paramref name="to"/> accept TCP <paramref name="port"/> from pods of <paramref name="from"/>.</summary>
    public static bool AdmitsIngress(Manifests manifests, Workload to, Workload from, int port) =>
        Admits(manifests, "Ingress", to, port, rule => PeersInclude(rule.Get("from"), from));

    /// <summary>Whether pods of <paramref name="from"/> may open TCP <paramref name="port"/> on pods of <paramref name="to"/>.</summary>
    public static bool AllowsEgress(Manifests manifests, Workload from, Workload to, int port) =>
        Admits(manifests, "Egress", from, port, rule => PeersInclude(rule.Get("to"), to));

    /// <summary>Whether pods of <paramref name="to"/> accept TCP <paramref name="port"/> from any source at all (no peer list).</summary>
    public static bool AdmitsFromAnywhere(Manifests manifests, Workload to, int port) =>
        Admits(manifests, "Ingress", to, port, rule => rule.Get("from").Items().Count == 0);

    private static bool Admits(Manifests manifests, string direction, Workload subject, int port, Func<YamlNode, bool> peerMatches)
    {
        var policies = manifests.OfKind("NetworkPolicy")
            .Where(p => Matches(p.Path("spec", "podSelector"), subject.PodLabels) && Types(p).Contains(direction))
            .ToList();
        if (policies.Count == 0)
        {
            return true;
        }

        var key = direction == "Ingress" ? "ingress" : "egress";
        return policies.SelectMany(p => p.Path("spec", key).Items()).Any(rule => PortMatches(rule, port) && peerMatches(rule));
    }

    // Without policyTypes, a policy isolates ingress always and egress only when it has egress rules.
    private static IReadOnlyList<string> Types(YamlNode policy)
    {
        var listed = policy.Path("spec", "policyTypes").Items().Select(t => ((YamlScalarNode)t).Value ?? "").ToList();
        if (listed.Count > 0)
        {
            return listed;
        }

        return policy.Path("spec", "egress") is null ? ["Ingress"] : ["Ingress", "Egress"];
    }

    private static bool PortMatches(YamlNode rule, int port)
    {
        var ports = rule.Get("ports").Items();
        return ports.Count == 0 || ports.Any(p =>
        {
            if ((p.Str("protocol") ?? "TCP") != "TCP")
            {
                return false;
            }

            var value = p.Str("port");
            if (value is null)
            {
                return true; // protocol only: every port
            }

            Assert.True(int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var first), $"named NetworkPolicy port '{value}' is not understood by this check");
            var last = p.Int("endPort") ?? first;
            return port >= first && port <= last;
        });
    }

    // An absent or empty peer list admits every peer; a podSelector peer without namespaceSelector means this namespace.
    private static bool PeersInclude(YamlNode? peers, Workload peer)
    {
        var items = peers.Items();
        return items.Count == 0 || items.Any(p =>
        {
            Assert.True(p.Get("namespaceSelector") is null, "namespaceSelector peers are not understood by this check");
            return p.Get("podSelector") is { } selector && Matches(selector, peer.PodLabels);
        });
    }

    private static bool Matches(YamlNode? selector, IReadOnlyDictionary<string, string> labels)
    {
        Assert.True(selector.Get("matchExpressions") is null, "matchExpressions selectors are not understood by this check");
        return selector.Get("matchLabels").Entries().All(e => labels.TryGetValue(e.Key, out var v) && v == ((YamlScalarNode)e.Value).Value);
    }
}

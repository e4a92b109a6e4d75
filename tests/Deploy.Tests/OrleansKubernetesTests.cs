using YamlDotNet.RepresentationModel;

namespace TempMe.Pipeline.Deploy.Tests;

/// <summary>
/// The silo and worker pods form one Orleans cluster under Microsoft.Orleans.Hosting.Kubernetes: ports, the pod facts
/// and ids that <c>UseKubernetesHosting()</c> reads, the RBAC it needs, silo-to-silo traffic and graceful shutdown.
/// </summary>
public sealed class OrleansKubernetesTests
{
    /// <summary>Orleans' silo-to-silo port (the CLI's <c>--silo-port</c> default).</summary>
    private const int SiloPort = 11111;

    /// <summary>Orleans' client gateway port (the CLI's <c>--gateway-port</c> default).</summary>
    private const int GatewayPort = 30000;

    /// <summary>The .NET host's default shutdown timeout, within which the Orleans silo leaves the cluster.</summary>
    private const int OrleansLeaveSeconds = 30;

    /// <summary>How long a worker may take to finish or hand back its shard after SIGTERM.</summary>
    private const int ShardHandBackSeconds = 60;

    /// <summary>The pod verbs the hosting package's cluster agent uses (read, relabel, list and watch its pods).</summary>
    private static readonly string[] HostingVerbs = ["get", "list", "patch", "watch"];

    /// <summary>The kustomizations that deploy the silo and workers.</summary>
    public static TheoryData<string> Apps => KustomizeTests.Apps;

    [Theory]
    [MemberData(nameof(Apps))]
    public void Every_tempme_container_declares_the_silo_and_gateway_ports_it_is_configured_with(string kustomization)
    {
        var problems = new List<string>();
        foreach (var c in TempmeApps(kustomization))
        {
            foreach (var (name, env, port) in new[] { ("silo", "TEMPME_SILO_PORT", SiloPort), ("gateway", "TEMPME_GATEWAY_PORT", GatewayPort) })
            {
                var configured = c.EnvValue(env) ?? port.ToString(System.Globalization.CultureInfo.InvariantCulture);
                var declared = c.Ports.Where(p => p.Name == name).Select(p => p.Port).ToList();
                if (declared.Count != 1 || declared[0].ToString(System.Globalization.CultureInfo.InvariantCulture) != configured)
                {
                    problems.Add($"{c}: containerPort named {name} is [{string.Join(", ", declared)}], expected {configured} ({env})");
                }

                if (configured != port.ToString(System.Globalization.CultureInfo.InvariantCulture))
                {
                    problems.Add($"{c}: {env} is {configured}; the NetworkPolicies open {port}");
                }
            }
        }

        Assert.True(problems.Count == 0, string.Join('\n', problems));
    }

    [Theory]
    [MemberData(nameof(Apps))]
    public void Every_tempme_container_turns_on_kubernetes_hosting_with_pod_facts_from_the_downward_api(string kustomization)
    {
        var problems = new List<string>();
        foreach (var c in TempmeApps(kustomization))
        {
            if (c.EnvValue("TEMPME_ORLEANS_KUBERNETES") != "true")
            {
                problems.Add($"{c}: TEMPME_ORLEANS_KUBERNETES is not \"true\"");
            }

            foreach (var (env, field) in new[]
            {
                ("POD_NAME", "metadata.name"),
                ("POD_NAMESPACE", "metadata.namespace"),
                ("POD_IP", "status.podIP"),
                ("TEMPME_ADVERTISE_ADDRESS", "status.podIP"),
            })
            {
                if (c.EnvFieldPath(env) != field)
                {
                    problems.Add($"{c}: {env} is not read from the downward API field {field}");
                }
            }

            // The hosting package calls the API server with the pod's service-account token.
            if (c.Workload.PodSpec.Bool("automountServiceAccountToken") != true)
            {
                problems.Add($"{c.Workload}: automountServiceAccountToken is not true; Orleans' Kubernetes hosting needs the token");
            }
        }

        Assert.True(problems.Count == 0, string.Join('\n', problems));
    }

    [Theory]
    [MemberData(nameof(Apps))]
    public void Orleans_ids_in_the_env_equal_the_orleans_pod_labels_and_name_one_cluster(string kustomization)
    {
        var problems = new List<string>();
        var clusters = new HashSet<string>(StringComparer.Ordinal);
        foreach (var c in TempmeApps(kustomization))
        {
            var labels = c.Workload.PodLabels;
            foreach (var (label, envs) in new[]
            {
                ("orleans/serviceId", new[] { "ORLEANS_SERVICE_ID", "TEMPME_SERVICE_ID" }),
                ("orleans/clusterId", new[] { "ORLEANS_CLUSTER_ID", "TEMPME_CLUSTER_ID" }),
            })
            {
                var expected = labels.GetValueOrDefault(label);
                if (string.IsNullOrEmpty(expected))
                {
                    problems.Add($"{c.Workload}: pod label {label} is missing");
                    continue;
                }

                foreach (var env in envs)
                {
                    if (c.EnvValue(env) != expected)
                    {
                        problems.Add($"{c}: {env} is '{c.EnvValue(env)}', not the pod label {label} '{expected}'");
                    }
                }
            }

            clusters.Add($"{labels.GetValueOrDefault("orleans/serviceId")}/{labels.GetValueOrDefault("orleans/clusterId")}");
        }

        Assert.True(problems.Count == 0, string.Join('\n', problems));
        Assert.True(clusters.Count == 1, $"the silo and worker pods name more than one Orleans cluster: {string.Join(", ", clusters)}");
    }

    [Theory]
    [MemberData(nameof(Apps))]
    public void The_hosting_role_grants_exactly_the_pod_verbs_orleans_uses_to_the_accounts_the_pods_run_as(string kustomization)
    {
        var manifests = Kubectl.Render(kustomization);
        var role = Assert.Single(manifests.OfKind("Role"));
        var rule = Assert.Single(role.Get("rules").Items());
        Assert.Equal([""], Strings(rule.Get("apiGroups")));
        Assert.Equal(["pods"], Strings(rule.Get("resources")));
        Assert.Equal(HostingVerbs, Strings(rule.Get("verbs")).Order(StringComparer.Ordinal));
        Assert.Null(rule.Get("resourceNames"));
        Assert.Empty(manifests.OfKind("ClusterRole"));
        Assert.Empty(manifests.OfKind("ClusterRoleBinding"));

        var binding = Assert.Single(manifests.OfKind("RoleBinding"));
        Assert.Equal("Role", binding.Str("roleRef", "kind"));
        Assert.Equal(role.Str("metadata", "name"), binding.Str("roleRef", "name"));
        Assert.Equal(role.Str("metadata", "namespace"), binding.Str("metadata", "namespace"));

        var accounts = manifests.OfKind("ServiceAccount").Select(a => (Name: a.Str("metadata", "name"), Namespace: a.Str("metadata", "namespace"))).ToList();
        var subjects = binding.Get("subjects").Items()
            .Where(s => s.Str("kind") == "ServiceAccount")
            .Select(s => (Name: s.Str("name"), Namespace: s.Str("namespace")))
            .ToList();
        foreach (var w in TempmeApps(kustomization).Select(c => c.Workload).Distinct())
        {
            var account = (Name: w.PodSpec.Str("serviceAccountName"), w.Namespace);
            Assert.True(account.Name is not null, $"{w}: no serviceAccountName (the namespace's default account would be used)");
            Assert.Contains(account, accounts);
            Assert.True(subjects.Contains(account), $"{w}: its ServiceAccount {account.Namespace}/{account.Name} is not bound to Role {role.Str("metadata", "name")}");
        }

        Assert.Equal(subjects.Count, subjects.Distinct().Count());
        Assert.All(subjects, s => Assert.Contains(s, accounts));
    }

    [Theory]
    [MemberData(nameof(Apps))]
    public void Network_policies_admit_the_silo_port_between_all_tempme_pods_and_the_gateway_on_the_silos_only(string kustomization)
    {
        var manifests = Kubectl.Render(kustomization);
        var apps = TempmeApps(kustomization).Select(c => c.Workload).Distinct().ToList();
        Assert.Equal(["silo", "worker"], apps.Select(w => w.PodLabels.GetValueOrDefault("app.kubernetes.io/component")).Order(StringComparer.Ordinal));
        var others = manifests.Workloads.Except(apps).ToList();
        var problems = new List<string>();
        foreach (var to in apps)
        {
            // Every pair, a workload with itself included (two workers, two silos).
            foreach (var from in apps)
            {
                if (!NetworkPolicies.AllowsEgress(manifests, from, to, SiloPort))
                {
                    problems.Add($"{from} may not open {SiloPort} on {to}");
                }

                if (!NetworkPolicies.AdmitsIngress(manifests, to, from, SiloPort))
                {
                    problems.Add($"{to} does not accept {SiloPort} from {from}");
                }

                var isSilo = to.PodLabels.GetValueOrDefault("app.kubernetes.io/component") == "silo";
                if (NetworkPolicies.AdmitsIngress(manifests, to, from, GatewayPort) != isSilo)
                {
                    problems.Add($"{to} {(isSilo ? "does not accept" : "accepts")} the gateway port {GatewayPort} from {from}");
                }
            }

            foreach (var port in new[] { SiloPort, GatewayPort })
            {
                if (NetworkPolicies.AdmitsFromAnywhere(manifests, to, port))
                {
                    problems.Add($"{to} accepts {port} from any source, not only tempme pods");
                }

                foreach (var other in others)
                {
                    if (NetworkPolicies.AdmitsIngress(manifests, to, other, port))
                    {
                        problems.Add($"{to} accepts {port} from {other}, which is no silo");
                    }
                }
            }
        }

        Assert.True(problems.Count == 0, string.Join('\n', problems));
    }

    [Theory]
    [MemberData(nameof(Apps))]
    public void Pods_get_grace_to_leave_the_cluster_and_workers_to_hand_back_their_shard_first(string kustomization)
    {
        var problems = new List<string>();
        foreach (var c in TempmeApps(kustomization))
        {
            var isWorker = c.Args[0] == "worker";
            var grace = c.Workload.PodSpec.Int("terminationGracePeriodSeconds") ?? 30;
            var preStop = PreStopSleepSeconds(c);
            var needed = preStop + OrleansLeaveSeconds + (isWorker ? ShardHandBackSeconds : 0);
            var floor = isWorker ? 120 : 60;
            if (grace <= needed || grace < floor)
            {
                problems.Add($"{c}: terminationGracePeriodSeconds {grace} must exceed {needed} s (preStop {preStop} + Orleans leave {OrleansLeaveSeconds}{(isWorker ? $" + hand-back {ShardHandBackSeconds}" : "")}) and be at least {floor}");
            }
        }

        Assert.True(problems.Count == 0, string.Join('\n', problems));
    }

    [Theory]
    [MemberData(nameof(Apps))]
    public void Only_the_silo_pods_behind_a_service_pause_before_sigterm(string kustomization)
    {
        foreach (var c in TempmeApps(kustomization))
        {
            var hook = c.Node.Path("lifecycle", "preStop");
            if (c.Args[0] == "silo")
            {
                Assert.True(PreStopSleepSeconds(c) is > 0 and <= 10, $"{c}: preStop is not a short sleep (endpoint removal races SIGTERM)");
            }
            else
            {
                Assert.True(hook is null, $"{c}: a worker has no Service to leave; a preStop would only delay the shard hand-back");
            }
        }
    }

    private static IReadOnlyList<Container> TempmeApps(string kustomization)
    {
        var containers = Kubectl.Render(kustomization).TempmeContainers.Where(c => !c.IsInit).ToList();
        Assert.Contains(containers, c => c.Args.FirstOrDefault() == "silo");
        Assert.Contains(containers, c => c.Args.FirstOrDefault() == "worker");
        return containers;
    }

    private static int PreStopSleepSeconds(Container c)
    {
        var hook = c.Node.Path("lifecycle", "preStop");
        if (hook is null)
        {
            return 0;
        }

        if (hook.Path("sleep", "seconds") is not null)
        {
            return hook.Int("sleep", "seconds") ?? 0;
        }

        var command = Strings(hook.Path("exec", "command"));
        Assert.True(command.Count == 2 && command[0] == "sleep", $"{c}: preStop {string.Join(' ', command)} is not `sleep N`");
        return int.Parse(command[1], System.Globalization.CultureInfo.InvariantCulture);
    }

    private static List<string> Strings(YamlNode? sequence) => sequence.Items().Select(n => ((YamlScalarNode)n).Value ?? "").ToList();
}

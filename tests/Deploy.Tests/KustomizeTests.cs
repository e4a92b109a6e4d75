using System.Text.RegularExpressions;
using TempMe.Pipeline.Testing;
using YamlDotNet.RepresentationModel;

namespace TempMe.Pipeline.Deploy.Tests;

/// <summary>Renders every kustomization with <c>kubectl kustomize</c> and checks what a cluster would get.</summary>
public sealed partial class KustomizeTests
{
    /// <summary>Every kustomization under deploy/k8s.</summary>
    public static TheoryData<string> All => new(AllNames);

    /// <summary>The kustomizations that deploy the silo and workers.</summary>
    public static TheoryData<string> Apps => new() { "base", "overlays/dev", "overlays/gpu", "overlays/gpu-workload-identity" };

    /// <summary>Overlays a user applies: images carry an explicit tag there.</summary>
    public static TheoryData<string> Overlays => new() { "overlays/dev", "overlays/gpu", "overlays/gpu-workload-identity" };

    private static readonly string[] AllNames = ["base", "overlays/dev", "overlays/gpu", "overlays/gpu-workload-identity", "autoscaling/keda", "autoscaling/hpa"];

    [Fact]
    public void Every_kustomization_folder_is_tested()
    {
        var k8s = Path.Combine(RepoPaths.Root, "deploy", "k8s");
        var found = Directory.EnumerateFiles(k8s, "kustomization.yaml", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(k8s, Path.GetDirectoryName(f)!).Replace('\\', '/'))
            .Order(StringComparer.Ordinal);
        Assert.Equal(AllNames.Order(StringComparer.Ordinal), found);
    }

    [Fact]
    public void Missing_kubectl_fails_and_names_the_debian_package()
    {
        var error = Assert.Throws<InvalidOperationException>(() => Kubectl.Locate(null, "/nonexistent-a:/nonexistent-b"));
        Assert.Contains("kubernetes-client", error.Message, StringComparison.Ordinal);
        error = Assert.Throws<InvalidOperationException>(() => Kubectl.Locate("/nonexistent/kubectl", "/usr/bin"));
        Assert.Contains("kubernetes-client", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(Apps))]
    public void Every_container_has_probes_requests_and_limits(string kustomization)
    {
        var manifests = Kubectl.Render(kustomization);
        Assert.NotEmpty(manifests.Containers);
        var problems = new List<string>();
        foreach (var c in manifests.Containers)
        {
            foreach (var kind in new[] { "requests", "limits" })
            {
                foreach (var resource in new[] { "cpu", "memory" })
                {
                    if (c.Node.Str("resources", kind, resource) is null)
                    {
                        problems.Add($"{c}: no resources.{kind}.{resource}");
                    }
                }
            }

            if (c.IsInit && !c.IsSidecar)
            {
                continue; // Kubernetes rejects probes on init containers that run to completion.
            }

            foreach (var probe in new[] { "livenessProbe", "readinessProbe" })
            {
                var p = c.Node.Get(probe);
                if (p is null || (p.Get("httpGet") ?? p.Get("tcpSocket") ?? p.Get("exec") ?? p.Get("grpc")) is null)
                {
                    problems.Add($"{c}: no {probe} with an action");
                }
            }
        }

        Assert.True(problems.Count == 0, string.Join('\n', problems));
    }

    [Theory]
    [MemberData(nameof(Apps))]
    public void Every_pod_runs_as_non_root_with_a_read_only_root_and_an_api_token_only_where_orleans_needs_one(string kustomization)
    {
        var manifests = Kubectl.Render(kustomization);
        var problems = new List<string>();
        foreach (var w in manifests.Workloads)
        {
            var pod = w.PodSpec.Get("securityContext");

            // Only the Orleans silos (tempme pods with Kubernetes hosting on) call the API server; see OrleansKubernetesTests.
            var needsToken = w.Containers.Any(c => c.IsTempme && c.EnvValue("TEMPME_ORLEANS_KUBERNETES") == "true");
            if (w.PodSpec.Bool("automountServiceAccountToken") != needsToken)
            {
                problems.Add($"{w}: automountServiceAccountToken is not {(needsToken ? "true" : "false")}");
            }

            foreach (var c in w.Containers)
            {
                var sc = c.Node.Get("securityContext");
                var nonRoot = sc.Bool("runAsNonRoot") ?? pod.Bool("runAsNonRoot");
                var user = sc.Int("runAsUser") ?? pod.Int("runAsUser");
                if (nonRoot != true)
                {
                    problems.Add($"{c}: runAsNonRoot is not true");
                }

                if (user == 0)
                {
                    problems.Add($"{c}: runAsUser is 0");
                }

                if (sc.Bool("allowPrivilegeEscalation") != false)
                {
                    problems.Add($"{c}: allowPrivilegeEscalation is not false");
                }

                if (sc.Bool("readOnlyRootFilesystem") != true)
                {
                    problems.Add($"{c}: readOnlyRootFilesystem is not true");
                }

                if (!sc.Path("capabilities", "drop").Items().Any(n => ((YamlScalarNode)n).Value == "ALL"))
                {
                    problems.Add($"{c}: capabilities.drop lacks ALL");
                }

                var tmp = c.Node.Get("volumeMounts").Items().FirstOrDefault(m => m.Str("mountPath") == "/tmp");
                var volume = w.PodSpec.Get("volumes").Items().FirstOrDefault(v => v.Str("name") == tmp.Str("name"));
                if (volume?.Get("emptyDir") is null)
                {
                    problems.Add($"{c}: /tmp is not an emptyDir volume");
                }
            }
        }

        foreach (var sa in manifests.OfKind("ServiceAccount"))
        {
            if (sa.Bool("automountServiceAccountToken") != false)
            {
                problems.Add($"ServiceAccount/{sa.Str("metadata", "name")}: automountServiceAccountToken is not false");
            }
        }

        Assert.True(problems.Count == 0, string.Join('\n', problems));
    }

    [Theory]
    [MemberData(nameof(Apps))]
    public void Silo_and_worker_listen_probe_and_are_scraped_on_the_port_of_their_urls(string kustomization)
    {
        var manifests = Kubectl.Render(kustomization);
        var roles = manifests.TempmeContainers.Select(c => c.Args.FirstOrDefault()).ToList();
        Assert.Contains("silo", roles);
        Assert.Contains("worker", roles);

        foreach (var c in manifests.TempmeContainers)
        {
            var role = c.Args[0];
            var (flag, defaultPort) = role switch
            {
                "silo" => ("--urls", 8080),
                "worker" => ("--health-urls", 8081),
                _ => throw new InvalidOperationException($"{c}: first arg is '{role}', expected silo or worker"),
            };
            Assert.Equal(role == "silo" ? "silo" : c.ImageBaseName, c.ImageBaseName);

            var url = c.ArgValue(flag);
            Assert.True(url is not null, $"{c}: no {flag}");
            var ports = url.Split([';', ','], StringSplitOptions.RemoveEmptyEntries).Select(u => new Uri(u).Port).Distinct().ToList();
            var port = Assert.Single(ports);
            Assert.Equal(defaultPort, port);
            Assert.Contains(port, c.Ports.Select(p => p.Port));

            Assert.Equal("/healthz", c.Node.Str("livenessProbe", "httpGet", "path"));
            Assert.Equal("/readyz", c.Node.Str("readinessProbe", "httpGet", "path"));
            foreach (var probe in new[] { "livenessProbe", "readinessProbe", "startupProbe" })
            {
                if (c.Node.Get(probe) is { } p)
                {
                    Assert.True(port == c.ResolvePort(p.Str("httpGet", "port")), $"{c}: {probe} port {p.Str("httpGet", "port")} is not {port}");
                }
            }

            var annotations = c.Workload.PodAnnotations;
            Assert.Equal("true", annotations.GetValueOrDefault("prometheus.io/scrape"));
            Assert.Equal(port.ToString(System.Globalization.CultureInfo.InvariantCulture), annotations.GetValueOrDefault("prometheus.io/port"));
            Assert.Equal("/metrics", annotations.GetValueOrDefault("prometheus.io/path"));

            foreach (var service in ServicesSelecting(manifests, c.Workload))
            {
                foreach (var sp in service.Path("spec", "ports").Items())
                {
                    var target = sp.Str("targetPort") ?? sp.Str("port");
                    Assert.True(port == c.ResolvePort(target), $"Service/{service.Str("metadata", "name")} targets {target}, not {port}");
                }
            }
        }

        var silo = manifests.TempmeContainers.First(c => c.Args[0] == "silo");
        Assert.NotEmpty(ServicesSelecting(manifests, silo.Workload));
    }

    [Theory]
    [MemberData(nameof(Apps))]
    public void Every_tempme_deployment_has_a_disruption_budget(string kustomization)
    {
        var manifests = Kubectl.Render(kustomization);
        var budgets = manifests.OfKind("PodDisruptionBudget").ToList();
        foreach (var w in manifests.TempmeContainers.Select(c => c.Workload).Distinct())
        {
            Assert.True(
                budgets.Any(b => Selects(b.Path("spec", "selector", "matchLabels"), w.PodLabels)),
                $"{w}: no PodDisruptionBudget selects its pods");
        }
    }

    [Theory]
    [MemberData(nameof(Apps))]
    public void Worker_egress_is_limited_to_dns_postgres_storage_the_api_server_and_other_silos(string kustomization)
    {
        var manifests = Kubectl.Render(kustomization);
        var worker = manifests.TempmeContainers.First(c => c.Args[0] == "worker").Workload;
        var policies = manifests.OfKind("NetworkPolicy")
            .Where(p => Selects(p.Path("spec", "podSelector", "matchLabels"), worker.PodLabels))
            .Where(p => p.Path("spec", "policyTypes").Items().Any(t => ((YamlScalarNode)t).Value == "Egress"))
            .ToList();
        Assert.NotEmpty(policies);

        var allowed = new HashSet<string>(StringComparer.Ordinal);
        foreach (var rule in policies.SelectMany(p => p.Path("spec", "egress").Items()))
        {
            var ports = rule.Get("ports").Items();
            Assert.True(ports.Count > 0, "a worker egress rule without ports allows every port");
            foreach (var port in ports)
            {
                var name = $"{port.Str("protocol") ?? "TCP"}/{port.Str("port")}";
                allowed.Add(name);

                // The Orleans silo port is for tempme pods only; the API server (6443 on kubeadm/kind/k3s) has no selector.
                if (name == "TCP/11111")
                {
                    var peers = rule.Get("to").Items();
                    Assert.True(
                        peers.Count > 0 && peers.All(p => p.Str("podSelector", "matchLabels", "app.kubernetes.io/name") == "tempme"),
                        "worker egress on 11111 must go to tempme pods only");
                }
            }
        }

        Assert.Equal(new[] { "TCP/10000", "TCP/11111", "TCP/443", "TCP/53", "TCP/5432", "TCP/6443", "UDP/53" }, allowed.Order(StringComparer.Ordinal));
    }

    [Theory]
    [MemberData(nameof(All))]
    public void No_secret_value_appears_in_the_manifests(string kustomization)
    {
        var manifests = Kubectl.Render(kustomization);
        var problems = new List<string>();
        foreach (var obj in manifests.Objects)
        {
            var id = $"{obj.Str("kind")}/{obj.Str("metadata", "name")}";
            if (obj.Str("kind") == "Secret")
            {
                problems.Add($"{id}: Secret objects are created by hand (deploy/README.md), never rendered");
            }

            foreach (var (path, value) in obj.Scalars())
            {
                if (SecretLooking().IsMatch(value))
                {
                    problems.Add($"{id}{path}: looks like a credential: {value}");
                }
            }
        }

        foreach (var c in manifests.Containers)
        {
            foreach (var env in c.Env)
            {
                var name = env.Str("name") ?? "";
                if (env.Get("value") is not null && SecretName().IsMatch(name))
                {
                    problems.Add($"{c}: env {name} has an inline value; use valueFrom.secretKeyRef");
                }

                if (name is "TEMPME_DB" or "TEMPME_API_TOKEN" or "AZURE_STORAGE_CONNECTION_STRING" && env.Path("valueFrom", "secretKeyRef") is null)
                {
                    problems.Add($"{c}: env {name} must come from a secretKeyRef");
                }
            }
        }

        Assert.True(problems.Count == 0, string.Join('\n', problems));
    }

    [Theory]
    [MemberData(nameof(Apps))]
    public void Secrets_the_pods_read_are_documented_in_the_readme(string kustomization)
    {
        var readme = File.ReadAllText(Path.Combine(RepoPaths.Root, "deploy", "README.md"));
        var manifests = Kubectl.Render(kustomization);
        var refs = manifests.Containers.SelectMany(c => c.Env)
            .Select(e => e.Path("valueFrom", "secretKeyRef"))
            .OfType<YamlNode>()
            .Select(r => (Name: r.Str("name")!, Key: r.Str("key")!))
            .Concat(manifests.OfKind("TriggerAuthentication").SelectMany(t => t.Path("spec", "secretTargetRef").Items())
                .Select(r => (Name: r.Str("name")!, Key: r.Str("key")!)))
            .Distinct()
            .ToList();
        Assert.NotEmpty(refs);
        foreach (var (name, key) in refs)
        {
            Assert.True(
                Regex.IsMatch(readme, $@"create secret generic {Regex.Escape(name)}\b[^\n]*(\\\n[^\n]*)*--from-literal={Regex.Escape(key)}="),
                $"deploy/README.md has no `kubectl create secret generic {name} ... --from-literal={key}=...`");
        }
    }

    [Theory]
    [MemberData(nameof(All))]
    public void Env_var_names_in_the_manifests_are_read_by_the_code(string kustomization)
    {
        var names = Kubectl.Render(kustomization).Containers.Where(c => c.IsTempme)
            .SelectMany(c => c.Env).Select(e => e.Str("name") ?? "")
            .Where(n => n.StartsWith("TEMPME_", StringComparison.Ordinal) || n.StartsWith("AZURE_", StringComparison.Ordinal))
            .Distinct().Order(StringComparer.Ordinal).ToList();
        var missing = names.Where(n => !SourceNames.Has(n)).ToList();
        Assert.True(missing.Count == 0, $"not a string literal anywhere under src/: {string.Join(", ", missing)}");
    }

    [Theory]
    [MemberData(nameof(All))]
    public void Commands_and_flags_in_the_manifests_are_read_by_the_code(string kustomization)
    {
        var words = Kubectl.Render(kustomization).TempmeContainers
            .SelectMany(c => c.Args.Take(1).Concat(c.Args.Where(a => a.StartsWith("--", StringComparison.Ordinal)).Select(a => a.Split('=')[0])))
            .Distinct().Order(StringComparer.Ordinal).ToList();
        var missing = words.Where(w => !SourceNames.Has(w)).ToList();
        Assert.True(missing.Count == 0, $"not a string literal anywhere under src/: {string.Join(", ", missing)}");
    }

    [Theory]
    [MemberData(nameof(All))]
    public void Tempme_images_are_built_by_a_dockerfile_in_deploy_docker(string kustomization)
    {
        var manifests = Kubectl.Render(kustomization);
        foreach (var c in manifests.Containers.Where(c => c.Image.Contains("tempme/", StringComparison.Ordinal)))
        {
            Assert.True(c.IsTempme, $"{c}: image {c.Image} is not one of {string.Join(", ", Manifests.TempmeImages)}");
            Assert.True(File.Exists(Path.Combine(Dockerfile.Folder, "Dockerfile." + c.ImageBaseName)), $"{c}: no deploy/docker/Dockerfile.{c.ImageBaseName}");
            var expected = c.Args[0] == "silo" ? new[] { "silo" } : ["worker", "worker-cuda"];
            Assert.Contains(c.ImageBaseName, expected);
        }
    }

    [Theory]
    [MemberData(nameof(Overlays))]
    public void Overlays_pin_image_tags(string kustomization)
    {
        foreach (var c in Kubectl.Render(kustomization).Containers)
        {
            Assert.False(c.ImageTag is null or "latest", $"{c}: image {c.Image} has no pinned tag");
        }
    }

    [Fact]
    public void Gpu_workers_request_a_gpu_on_gpu_nodes_with_the_cuda_image()
    {
        var workers = Kubectl.Render("overlays/gpu").TempmeContainers.Where(c => c.Args[0] == "worker").ToList();
        Assert.NotEmpty(workers);
        foreach (var w in workers)
        {
            Assert.Equal("worker-cuda", w.ImageBaseName);
            Assert.Equal("1", w.Node.Str("resources", "limits", "nvidia.com/gpu"));
            Assert.Equal("1", w.Node.Str("resources", "requests", "nvidia.com/gpu"));
            var spec = w.Workload.PodSpec;
            Assert.Contains(spec.Get("tolerations").Items(), t => t.Str("key") == "nvidia.com/gpu" && t.Str("effect") is null or "NoSchedule");
            Assert.Contains(spec.Get("nodeSelector").Entries(), e => e.Key.StartsWith("nvidia.com/gpu", StringComparison.Ordinal));
        }
    }

    [Fact]
    public void Workload_identity_overlay_reaches_storage_keylessly_without_any_storage_secret()
    {
        var manifests = Kubectl.Render("overlays/gpu-workload-identity");
        var accounts = manifests.OfKind("ServiceAccount").ToDictionary(sa => sa.Str("metadata", "name")!, StringComparer.Ordinal);
        var apps = manifests.Workloads.Where(w => w.Containers.Any(c => c.IsTempme)).ToList();
        Assert.Equal(2, apps.Count);
        foreach (var w in apps)
        {
            Assert.Equal("true", w.PodLabels.GetValueOrDefault("azure.workload.identity/use"));
            var account = accounts[w.PodSpec.Str("serviceAccountName")!];
            Assert.Matches("^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", account.Str("metadata", "annotations", "azure.workload.identity/client-id") ?? string.Empty);
            foreach (var c in w.Containers)
            {
                Assert.DoesNotContain(c.Env, e => e.Str("name") == "AZURE_STORAGE_CONNECTION_STRING");
                Assert.DoesNotContain(c.Env, e => e.Str("valueFrom", "secretKeyRef", "name") == "tempme-storage");
            }
        }

        Assert.Contains("worker-cuda", apps.SelectMany(w => w.Containers).Select(c => c.ImageBaseName));
    }

    [Theory]
    [InlineData("base")]
    [InlineData("overlays/dev")]
    public void Cpu_workers_ask_for_no_gpu(string kustomization)
    {
        foreach (var w in Kubectl.Render(kustomization).TempmeContainers)
        {
            Assert.NotEqual("worker-cuda", w.ImageBaseName);
            Assert.Null(w.Node.Str("resources", "limits", "nvidia.com/gpu"));
        }
    }

    [Fact]
    public void Dev_overlay_runs_postgres_15_and_azurite_in_cluster()
    {
        var manifests = Kubectl.Render("overlays/dev");
        Assert.Contains(manifests.Containers, c => c.Image.StartsWith("postgres:15", StringComparison.Ordinal));
        Assert.Contains(manifests.Containers, c => c.Image.StartsWith("mcr.microsoft.com/azure-storage/azurite", StringComparison.Ordinal)
            && c.Ports.Any(p => p.Port == 10000));
        var services = manifests.OfKind("Service").Select(s => s.Str("metadata", "name")).ToList();
        Assert.Contains("postgres", services);
        Assert.Contains("azurite", services);
    }

    [Fact]
    public void Keda_scales_workers_on_queued_and_expired_lease_shards()
    {
        const string Query = "SELECT COUNT(*) FROM shards WHERE state = 'queued' OR (state = 'leased' AND lease_expires < now())";
        var manifests = Kubectl.Render("overlays/gpu");
        var scaled = Assert.Single(manifests.OfKind("ScaledObject"));
        Assert.Equal("keda.sh/v1alpha1", scaled.Str("apiVersion"));
        var target = scaled.Str("spec", "scaleTargetRef", "name");
        Assert.Contains(manifests.OfKind("Deployment"), d => d.Str("metadata", "name") == target);
        Assert.Contains(manifests.TempmeContainers, c => c.Workload.Name == target && c.Args[0] == "worker");

        var triggers = scaled.Path("spec", "triggers").Items();
        Assert.All(triggers, t => Assert.Equal("postgresql", t.Str("type")));
        Assert.Contains(triggers, t => Normalize(t.Str("metadata", "query")) == Query);

        foreach (var trigger in triggers)
        {
            Assert.Null(trigger.Str("metadata", "connection"));
            var auth = trigger.Str("authenticationRef", "name");
            var ta = Assert.Single(manifests.OfKind("TriggerAuthentication"), a => a.Str("metadata", "name") == auth);
            var secret = Assert.Single(ta.Path("spec", "secretTargetRef").Items());
            Assert.Equal("connection", secret.Str("parameter"));
            Assert.Equal("tempme-db", secret.Str("name"));
        }
    }

    [Fact]
    public void Hpa_alternative_scales_workers_on_the_queue_depth_metric()
    {
        var hpa = Assert.Single(Kubectl.Render("autoscaling/hpa").OfKind("HorizontalPodAutoscaler"));
        Assert.Equal("autoscaling/v2", hpa.Str("apiVersion"));
        Assert.Equal("tempme-worker", hpa.Str("spec", "scaleTargetRef", "name"));
        var metric = Assert.Single(hpa.Path("spec", "metrics").Items());
        Assert.Equal("tempme_queue_depth", metric.Str("external", "metric", "name") ?? metric.Str("pods", "metric", "name"));
        var worker = Kubectl.Render("base").TempmeContainers.First(c => c.Args[0] == "worker");
        Assert.Equal("tempme-worker", worker.Workload.Name);
    }

    [Fact]
    public void Hpa_metric_is_exported_by_the_code()
    {
        Assert.True(SourceNames.HasMetric("tempme_queue_depth"), "no string literal under src/ names the metric tempme_queue_depth (or tempme.queue.depth)");
    }

    private static string? Normalize(string? sql) => sql is null ? null : Whitespace().Replace(sql.Trim(), " ");

    private static IEnumerable<YamlMappingNode> ServicesSelecting(Manifests manifests, Workload w) =>
        manifests.OfKind("Service").Where(s => Selects(s.Path("spec", "selector"), w.PodLabels));

    private static bool Selects(YamlNode? selector, IReadOnlyDictionary<string, string> labels)
    {
        var entries = selector.Entries().ToList();
        return entries.Count > 0 && entries.All(e => labels.TryGetValue(e.Key, out var v) && v == ((YamlScalarNode)e.Value).Value);
    }

    // Npgsql/libpq/Azure connection-string keys with a value, URLs with user:password@, SAS signatures.
    [GeneratedRegex(@"(?i)(password|pwd|accountkey|sharedaccesskey|sharedaccesssignature)\s*=\s*[^;\s$]|\b[a-z][a-z0-9+.-]*://[^/\s:@]+:[^/\s@]+@|[?&]sig=")]
    private static partial Regex SecretLooking();

    [GeneratedRegex(@"(?i)(password|passwd|secret|token|key|connection|_DSN$)")]
    private static partial Regex SecretName();

    [GeneratedRegex(@"\s+")]
    private static partial Regex Whitespace();
}

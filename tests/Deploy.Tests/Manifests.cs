using System.Text.RegularExpressions;
using YamlDotNet.RepresentationModel;

namespace TempMe.Pipeline.Deploy.Tests;

/// <summary>One rendered kustomization: its objects, pod templates and containers.</summary>
internal sealed class Manifests
{
    /// <summary>Images built from deploy/docker/Dockerfile.&lt;name&gt;: the last path segment of the repository.</summary>
    public static readonly string[] TempmeImages = ["silo", "worker", "worker-cuda"];

    private Manifests(string name, IReadOnlyList<YamlMappingNode> objects)
    {
        Name = name;
        Objects = objects;
        Workloads = objects.Select(ToWorkload).OfType<Workload>().ToList();
    }

    public string Name { get; }

    public IReadOnlyList<YamlMappingNode> Objects { get; }

    public IReadOnlyList<Workload> Workloads { get; }

    public IEnumerable<Container> Containers => Workloads.SelectMany(w => w.Containers);

    /// <summary>Containers running an image built from deploy/docker.</summary>
    public IEnumerable<Container> TempmeContainers => Containers.Where(c => c.IsTempme);

    public IEnumerable<YamlMappingNode> OfKind(string kind) => Objects.Where(o => o.Str("kind") == kind);

    public static Manifests Parse(string name, string yaml)
    {
        var stream = new YamlStream();
        stream.Load(new StringReader(yaml));
        var objects = stream.Documents.Select(d => d.RootNode).OfType<YamlMappingNode>().ToList();
        Assert.True(objects.Count > 0, $"kubectl kustomize {name} rendered nothing");
        return new Manifests(name, objects);
    }

    private static Workload? ToWorkload(YamlMappingNode obj)
    {
        var kind = obj.Str("kind") ?? "";
        var template = kind switch
        {
            "Deployment" or "StatefulSet" or "DaemonSet" or "ReplicaSet" or "Job" => obj.Path("spec", "template"),
            "CronJob" => obj.Path("spec", "jobTemplate", "spec", "template"),
            "Pod" => obj,
            _ => null,
        };
        return template is null ? null : new Workload(kind, obj.Str("metadata", "name") ?? "?", obj, template);
    }
}

/// <summary>A workload and its pod template.</summary>
internal sealed class Workload(string kind, string name, YamlMappingNode obj, YamlNode template)
{
    public string Kind { get; } = kind;

    public string Name { get; } = name;

    /// <summary>The namespace kustomize rendered the workload into.</summary>
    public string? Namespace => Object.Str("metadata", "namespace");

    public YamlMappingNode Object { get; } = obj;

    public YamlNode Template { get; } = template;

    public YamlNode? PodSpec => Template.Get("spec");

    public IReadOnlyDictionary<string, string> PodLabels =>
        Template.Path("metadata", "labels").Entries().ToDictionary(e => e.Key, e => ((YamlScalarNode)e.Value).Value ?? "");

    public IReadOnlyDictionary<string, string> PodAnnotations =>
        Template.Path("metadata", "annotations").Entries().ToDictionary(e => e.Key, e => ((YamlScalarNode)e.Value).Value ?? "");

    public IEnumerable<Container> Containers =>
        PodSpec.Get("initContainers").Items().Select(c => new Container(this, c, IsInit: true))
            .Concat(PodSpec.Get("containers").Items().Select(c => new Container(this, c, IsInit: false)));

    public override string ToString() => $"{Kind}/{Name}";
}

/// <summary>A container (or init container) of a workload.</summary>
internal sealed partial record Container(Workload Workload, YamlNode Node, bool IsInit)
{
    public string Name => Node.Str("name") ?? "?";

    public string Image => Node.Str("image") ?? "";

    /// <summary>The image repository's last segment without tag or digest: <c>silo</c> for <c>registry/tempme/silo:1</c>.</summary>
    public string ImageBaseName
    {
        get
        {
            var image = Image.Split('@')[0];
            var slash = image.LastIndexOf('/');
            var last = image[(slash + 1)..];
            var colon = last.IndexOf(':', StringComparison.Ordinal);
            return colon < 0 ? last : last[..colon];
        }
    }

    /// <summary>The tag, or null when the image names none.</summary>
    public string? ImageTag
    {
        get
        {
            var image = Image.Split('@')[0];
            var last = image[(image.LastIndexOf('/') + 1)..];
            var colon = last.IndexOf(':', StringComparison.Ordinal);
            return colon < 0 ? null : last[(colon + 1)..];
        }
    }

    public bool IsTempme => Image.Contains("tempme/", StringComparison.Ordinal) && Manifests.TempmeImages.Contains(ImageBaseName);

    /// <summary>Init containers with restartPolicy Always are sidecars: they run beside the app and take probes.</summary>
    public bool IsSidecar => IsInit && Node.Str("restartPolicy") == "Always";

    public IReadOnlyList<string> Args => Node.Get("args").Items().Concat(Node.Get("command").Items())
        .Select(n => ((YamlScalarNode)n).Value ?? "").ToList();

    /// <summary>The value after <paramref name="flag"/> in args (or <c>--flag=value</c>).</summary>
    public string? ArgValue(string flag)
    {
        var args = Node.Get("args").Items().Select(n => ((YamlScalarNode)n).Value ?? "").ToList();
        for (var i = 0; i < args.Count; i++)
        {
            if (args[i] == flag && i + 1 < args.Count)
            {
                return args[i + 1];
            }

            if (args[i].StartsWith(flag + "=", StringComparison.Ordinal))
            {
                return args[i][(flag.Length + 1)..];
            }
        }

        return null;
    }

    public IEnumerable<(string Name, int Port)> Ports =>
        Node.Get("ports").Items().Select(p => (p.Str("name") ?? "", p.Int("containerPort") ?? -1));

    /// <summary>A probe's port: a number, or a named container port.</summary>
    public int? ResolvePort(string? port) =>
        port is null ? null
        : int.TryParse(port, System.Globalization.CultureInfo.InvariantCulture, out var n) ? n
        : Ports.Where(p => p.Name == port).Select(p => (int?)p.Port).FirstOrDefault();

    public IEnumerable<YamlNode> Env => Node.Get("env").Items();

    /// <summary>The env entry named <paramref name="name"/>, or null.</summary>
    public YamlNode? EnvEntry(string name) => Env.LastOrDefault(e => e.Str("name") == name);

    /// <summary>The downward-API field an env var is read from (<c>metadata.name</c>, <c>status.podIP</c>), or null.</summary>
    public string? EnvFieldPath(string name) => EnvEntry(name).Str("valueFrom", "fieldRef", "fieldPath");

    /// <summary>
    /// What the env var holds in a running pod: its literal value, or the pod label a
    /// <c>fieldRef: metadata.labels['KEY']</c> reads; null when unset or read from elsewhere.
    /// </summary>
    public string? EnvValue(string name)
    {
        var entry = EnvEntry(name);
        if (entry?.Get("value") is YamlScalarNode literal)
        {
            return literal.Value;
        }

        var label = LabelFieldPath().Match(entry.Str("valueFrom", "fieldRef", "fieldPath") ?? "");
        return label.Success ? Workload.PodLabels.GetValueOrDefault(label.Groups[1].Value) : null;
    }

    public override string ToString() => $"{Workload}: {(IsInit ? "initContainer" : "container")} {Name}";

    [GeneratedRegex(@"^metadata\.labels\['([^']+)'\]$")]
    private static partial Regex LabelFieldPath();
}

using System.Globalization;
using YamlDotNet.RepresentationModel;

namespace TempMe.Pipeline.Deploy.Tests;

/// <summary>Small null-tolerant navigation over YamlDotNet's representation model.</summary>
internal static class Yaml
{
    public static YamlNode? Get(this YamlNode? node, string key)
    {
        if (node is not YamlMappingNode map)
        {
            return null;
        }

        foreach (var (k, v) in map.Children)
        {
            if (k is YamlScalarNode s && s.Value == key)
            {
                return v;
            }
        }

        return null;
    }

    public static YamlNode? Path(this YamlNode? node, params string[] keys)
    {
        foreach (var key in keys)
        {
            node = node.Get(key);
        }

        return node;
    }

    public static string? Str(this YamlNode? node, params string[] keys) => (node.Path(keys) as YamlScalarNode)?.Value;

    public static int? Int(this YamlNode? node, params string[] keys) =>
        int.TryParse(node.Str(keys), NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) ? value : null;

    public static bool? Bool(this YamlNode? node, params string[] keys) => node.Str(keys) switch
    {
        "true" => true,
        "false" => false,
        _ => null,
    };

    public static IReadOnlyList<YamlNode> Items(this YamlNode? node) => node is YamlSequenceNode seq ? seq.Children.ToList() : [];

    /// <summary>Mapping entries with string keys; YAML merge keys (<c>&lt;&lt;: *anchor</c>) are followed.</summary>
    public static IEnumerable<(string Key, YamlNode Value)> Entries(this YamlNode? node)
    {
        if (node is not YamlMappingNode map)
        {
            yield break;
        }

        foreach (var (k, v) in map.Children)
        {
            if (k is not YamlScalarNode { Value: { } key })
            {
                continue;
            }

            if (key == "<<")
            {
                foreach (var inner in (v is YamlSequenceNode seq ? seq.Children : [v]).SelectMany(Entries))
                {
                    yield return inner;
                }
            }
            else
            {
                yield return (key, v);
            }
        }
    }

    /// <summary>Every scalar value in the tree, with a path for messages.</summary>
    public static IEnumerable<(string Path, string Value)> Scalars(this YamlNode node, string path = "")
    {
        switch (node)
        {
            case YamlScalarNode { Value: { } value }:
                yield return (path, value);
                break;
            case YamlSequenceNode seq:
                for (var i = 0; i < seq.Children.Count; i++)
                {
                    foreach (var s in seq.Children[i].Scalars($"{path}[{i}]"))
                    {
                        yield return s;
                    }
                }

                break;
            case YamlMappingNode map:
                foreach (var (k, v) in map.Children)
                {
                    var key = (k as YamlScalarNode)?.Value ?? "?";
                    foreach (var s in v.Scalars($"{path}.{key}"))
                    {
                        yield return s;
                    }
                }

                break;
        }
    }

    public static YamlNode LoadFile(string file)
    {
        var stream = new YamlStream();
        using var reader = File.OpenText(file);
        stream.Load(reader);
        return stream.Documents.Single().RootNode;
    }
}

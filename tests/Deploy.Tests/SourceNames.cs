using System.Text.RegularExpressions;
using TempMe.Pipeline.Testing;

namespace TempMe.Pipeline.Deploy.Tests;

/// <summary>The string literals in src/**/*.cs: the env var names, flags and metric names the code can read.</summary>
internal static partial class SourceNames
{
    private static readonly Lazy<HashSet<string>> LazyLiterals = new(Scan);

    public static IReadOnlySet<string> Literals => LazyLiterals.Value;

    /// <summary>True when <paramref name="literal"/> occurs as a whole C# string literal under src/.</summary>
    public static bool Has(string literal) => Literals.Contains(literal);

    /// <summary>True when a Prometheus metric name occurs in a literal (OpenTelemetry's dots count as underscores).</summary>
    public static bool HasMetric(string metric) =>
        Literals.Any(l => l.Replace('.', '_').Contains(metric, StringComparison.Ordinal));

    private static HashSet<string> Scan()
    {
        var src = Path.Combine(RepoPaths.Root, "src");
        var literals = new HashSet<string>(StringComparer.Ordinal);
        foreach (var file in Directory.EnumerateFiles(src, "*.cs", SearchOption.AllDirectories))
        {
            var relative = Path.GetRelativePath(src, file).Replace('\\', '/');
            if (relative.Contains("/bin/", StringComparison.Ordinal) || relative.Contains("/obj/", StringComparison.Ordinal))
            {
                continue;
            }

            foreach (Match m in Literal().Matches(File.ReadAllText(file)))
            {
                literals.Add(m.Groups[1].Value);
            }
        }

        return literals;
    }

    [GeneratedRegex("\"((?:[^\"\\\\\\r\\n]|\\\\.)*)\"")]
    private static partial Regex Literal();
}

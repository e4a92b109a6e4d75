using System.Globalization;
using System.Text.RegularExpressions;

namespace TempMe.Pipeline.Dashboard.Tests;

/// <summary>A strict reader of the Prometheus text format 0.0.4, enough to check what /metrics writes.</summary>
internal static partial class PrometheusText
{
    public sealed record Sample(string Name, IReadOnlyDictionary<string, string> Labels, double Value);

    public sealed record Scrape(IReadOnlyDictionary<string, string> Types, IReadOnlyList<Sample> Samples)
    {
        public IEnumerable<Sample> Named(string name) => Samples.Where(s => s.Name == name);

        public double Sum(string name) => Named(name).Sum(s => s.Value);
    }

    /// <summary>Parses <paramref name="text"/>, failing on any line that is not valid, a sample without a TYPE, or an inconsistent histogram.</summary>
    public static Scrape Parse(string text)
    {
        var types = new Dictionary<string, string>(StringComparer.Ordinal);
        var samples = new List<Sample>();
        foreach (var line in text.Split('\n'))
        {
            if (line.Length == 0)
            {
                continue;
            }

            if (line.StartsWith('#'))
            {
                var m = Comment().Match(line);
                Assert.True(m.Success, $"bad comment line: {line}");
                if (m.Groups[1].Value == "TYPE")
                {
                    Assert.Contains(m.Groups[3].Value, new[] { "counter", "gauge", "histogram", "summary", "untyped" });
                    Assert.True(types.TryAdd(m.Groups[2].Value, m.Groups[3].Value), $"TYPE given twice for {m.Groups[2].Value}");
                }

                continue;
            }

            var s = SampleLine().Match(line);
            Assert.True(s.Success, $"bad sample line: {line}");
            var labels = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (Match l in Label().Matches(s.Groups[2].Value))
            {
                labels[l.Groups[1].Value] = l.Groups[2].Value;
            }

            var raw = s.Groups[3].Value;
            var value = raw switch
            {
                "+Inf" => double.PositiveInfinity,
                "-Inf" => double.NegativeInfinity,
                "NaN" => double.NaN,
                _ => double.Parse(raw, NumberStyles.Float, CultureInfo.InvariantCulture),
            };
            samples.Add(new Sample(s.Groups[1].Value, labels, value));
        }

        foreach (var sample in samples)
        {
            var family = types.ContainsKey(sample.Name) ? sample.Name : Regex.Replace(sample.Name, "_(bucket|sum|count)$", "");
            Assert.True(types.ContainsKey(family), $"sample {sample.Name} has no # TYPE line");
            if (types[family] == "counter")
            {
                Assert.EndsWith("_total", sample.Name, StringComparison.Ordinal);
            }
        }

        foreach (var (family, _) in types.Where(t => t.Value == "histogram"))
        {
            var buckets = samples.Where(x => x.Name == family + "_bucket").ToList();
            Assert.NotEmpty(buckets);

            // One histogram per label set (le aside): cumulative buckets ending in +Inf, whose count is _count, and one _sum.
            foreach (var series in buckets.GroupBy(b => Key(b.Labels, "le")))
            {
                var ordered = series.Select(b => (Le: b.Labels["le"] == "+Inf" ? double.PositiveInfinity : double.Parse(b.Labels["le"], CultureInfo.InvariantCulture), b.Value)).ToList();
                for (var i = 1; i < ordered.Count; i++)
                {
                    Assert.True(ordered[i].Le > ordered[i - 1].Le && ordered[i].Value >= ordered[i - 1].Value, $"{family}{{{series.Key}}} buckets are not cumulative");
                }

                Assert.True(double.IsPositiveInfinity(ordered[^1].Le), $"{family}{{{series.Key}}} lacks le=\"+Inf\"");
                Assert.Equal(ordered[^1].Value, samples.Single(x => x.Name == family + "_count" && Key(x.Labels, null) == series.Key).Value);
                Assert.Single(samples, x => x.Name == family + "_sum" && Key(x.Labels, null) == series.Key);
            }
        }

        return new Scrape(types, samples);
    }

    private static string Key(IReadOnlyDictionary<string, string> labels, string? except) =>
        string.Join(',', labels.Where(l => l.Key != except).OrderBy(l => l.Key, StringComparer.Ordinal).Select(l => $"{l.Key}={l.Value}"));

    [GeneratedRegex("^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$")]
    private static partial Regex Comment();

    [GeneratedRegex("^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\\{((?:[a-zA-Z_][a-zA-Z0-9_]*=\"(?:[^\"\\\\]|\\\\.)*\",?)*)\\})? (\\S+)$")]
    private static partial Regex SampleLine();

    [GeneratedRegex("([a-zA-Z_][a-zA-Z0-9_]*)=\"((?:[^\"\\\\]|\\\\.)*)\"")]
    private static partial Regex Label();
}

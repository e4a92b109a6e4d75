using TempMe.Pipeline.Testing;

namespace TempMe.Pipeline.Deploy.Tests;

/// <summary>A parsed Dockerfile: logical lines (continuations joined, comments dropped) as instruction + rest.</summary>
internal sealed class Dockerfile
{
    private Dockerfile(string path, IReadOnlyList<(string Instruction, string Args)> lines)
    {
        Path = path;
        Lines = lines;
    }

    public static string Folder => System.IO.Path.Combine(RepoPaths.Root, "deploy", "docker");

    public static IEnumerable<string> All =>
        Directory.EnumerateFiles(Folder, "Dockerfile*").Where(f => !f.EndsWith(".dockerignore", StringComparison.Ordinal)).Order(StringComparer.Ordinal);

    public string Path { get; }

    public IReadOnlyList<(string Instruction, string Args)> Lines { get; }

    /// <summary>Lines of the last stage (after the last FROM).</summary>
    public IEnumerable<(string Instruction, string Args)> FinalStage =>
        Lines.Skip(Lines.Select((l, i) => (l, i)).Last(x => x.l.Instruction == "FROM").i);

    public static Dockerfile Load(string path)
    {
        var lines = new List<(string, string)>();
        var current = "";
        foreach (var raw in File.ReadAllLines(path))
        {
            var line = raw.Trim();
            if (current.Length == 0 && (line.Length == 0 || line.StartsWith('#')))
            {
                continue;
            }

            if (line.EndsWith('\\'))
            {
                current += line[..^1] + " ";
                continue;
            }

            current += line;
            var split = current.IndexOf(' ', StringComparison.Ordinal);
            lines.Add(split < 0 ? (current.ToUpperInvariant(), "") : (current[..split].ToUpperInvariant(), current[(split + 1)..].Trim()));
            current = "";
        }

        return new Dockerfile(path, lines);
    }

    /// <summary>Sources of COPY/ADD instructions that read the build context (not <c>--from=</c> a stage or image).</summary>
    public IEnumerable<string> ContextSources()
    {
        foreach (var (instruction, rest) in Lines.Where(l => l.Instruction is "COPY" or "ADD"))
        {
            var words = rest.StartsWith('[')
                ? rest.Trim('[', ']').Split(',').Select(w => w.Trim().Trim('"')).ToList()
                : rest.Split(' ', StringSplitOptions.RemoveEmptyEntries).ToList();
            var flags = words.TakeWhile(w => w.StartsWith("--", StringComparison.Ordinal)).ToList();
            if (flags.Any(f => f.StartsWith("--from", StringComparison.Ordinal)))
            {
                continue;
            }

            var paths = words.Skip(flags.Count).ToList();
            Assert.True(paths.Count >= 2, $"{Path}: {instruction} {rest} needs a source and a destination");
            foreach (var source in paths.Take(paths.Count - 1))
            {
                yield return source;
            }
        }
    }

    /// <summary>Patterns of the BuildKit per-Dockerfile ignore file (<c>Dockerfile.x.dockerignore</c>), if any.</summary>
    public IReadOnlyList<string> IgnorePatterns =>
        File.Exists(Path + ".dockerignore")
            ? File.ReadAllLines(Path + ".dockerignore").Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith('#')).ToList()
            : [];
}

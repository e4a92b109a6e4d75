using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using TempMe.Pipeline.Ledger;
using TempMe.Pipeline.Indexing.Output;
using TempMe.Pipeline.Search;
using TempMe.Pipeline.Storage;

namespace TempMe.Pipeline.Cli.Commands;

/// <summary>
/// <c>tempme bench-search</c>: writes a synthetic index of N random unit vectors (streamed to disk, never held in memory),
/// opens it the way <c>tempme search</c> does and times exact top-k queries. Reports latency per query and the process's
/// peak anonymous (private) memory next to the size of the vectors; the mapped file pages are the OS page cache, shared
/// and evictable. Goal: under 300 ms per query at 1,000,000 × 512 on 2 cores.
/// </summary>
internal static class BenchSearchCommand
{
    /// <summary>Creates the command.</summary>
    public static Command Create()
    {
        var vectors = new Option<int>("--vectors") { Description = "Rows in the synthetic index.", DefaultValueFactory = _ => 1_000_000 };
        var dim = new Option<int>("--dim") { Description = "Embedding width.", DefaultValueFactory = _ => 512 };
        var parts = new Option<int>("--parts") { Description = "Part files to spread the rows over.", DefaultValueFactory = _ => 16 };
        var queries = new Option<int>("--queries") { Description = "Queries to time (after one warm-up).", DefaultValueFactory = _ => 20 };
        var k = new Option<int>("-k") { Description = "Results per query.", DefaultValueFactory = _ => 10 };
        var folder = new Option<string?>("--folder") { Description = "Where to write the index (default: a temporary folder, removed afterwards)." };
        var command = new Command("bench-search", "Benchmark: exact top-k search latency and memory over a synthetic memory-mapped index.") { vectors, dim, parts, queries, k, folder };
        CommandAction.Set(command, async (parse, cancellationToken) =>
        {
            var (n, d, p, q, top) = (parse.GetValue(vectors), parse.GetValue(dim), parse.GetValue(parts), parse.GetValue(queries), parse.GetValue(k));
            if (n < 1 || d < 1 || d > 65_536 || p < 1 || p > n || q < 1 || top is < 1 or > SearchCommand.MaxK)
            {
                throw new UsageException($"--vectors, --dim (1..65536), --parts (1..vectors), --queries and -k (1..{SearchCommand.MaxK}) must be positive.");
            }

            var root = parse.GetValue(folder) ?? Directory.CreateTempSubdirectory("tempme-bench-search-").FullName;
            var temporary = parse.GetValue(folder) is null;
            try
            {
                var write = Stopwatch.StartNew();
                await WriteIndexAsync(root, n, d, p, cancellationToken);
                Print($"wrote {n:N0} × {d} float32 vectors ({n * (long)d * 4 / (1024.0 * 1024):N0} MiB) in {p} parts to {root} in {write.Elapsed.TotalSeconds:F1} s");
                var baseline = ProcessMemory.Read();
                using var index = await SearchIndex.OpenAsync(new LocalFolderStore(root), root, cancellationToken);
                var random = new Random(7);
                var timings = new List<double>();
                var peakAnon = 0L;
                for (var i = 0; i <= q; i++)
                {
                    var query = UnitVector(random, d);
                    var clock = Stopwatch.StartNew();
                    var hits = index.Search(query, top, cancellationToken);
                    clock.Stop();
                    if (hits.Count != Math.Min(top, n))
                    {
                        throw new RunFailedException($"a query returned {hits.Count} results, expected {Math.Min(top, n)}.");
                    }

                    peakAnon = Math.Max(peakAnon, ProcessMemory.Read().AnonymousBytes);
                    if (i == 0)
                    {
                        Print($"first query (pages the vectors in): {clock.Elapsed.TotalMilliseconds:F1} ms");
                    }
                    else
                    {
                        timings.Add(clock.Elapsed.TotalMilliseconds);
                    }
                }

                timings.Sort();
                var after = ProcessMemory.Read();
                Print($"{q} queries, k={top}, {Environment.ProcessorCount} cores: mean {timings.Average():F1} ms, median {timings[timings.Count / 2]:F1} ms, max {timings[^1]:F1} ms per query");
                Print($"memory: vectors {n * (long)d * 4 / (1024.0 * 1024):N0} MiB; private (anonymous) peak {peakAnon / (1024.0 * 1024):N0} MiB (before opening {baseline.AnonymousBytes / (1024.0 * 1024):N0} MiB); " +
                      $"process peak RSS incl. mapped file pages {after.PeakResidentBytes / (1024.0 * 1024):N0} MiB; managed heap {GC.GetTotalMemory(false) / (1024.0 * 1024):N0} MiB");
                return ExitCodes.Ok;
            }
            finally
            {
                if (temporary)
                {
                    Directory.Delete(root, recursive: true);
                }
            }
        });
        return command;
    }

    private static async Task WriteIndexAsync(string root, int n, int d, int parts, CancellationToken cancellationToken)
    {
        var random = new Random(1);
        var store = new LocalFolderStore(root);
        var manifestParts = new List<ManifestPart>();
        var row = new float[d];
        var bytes = new byte[d * sizeof(float)];
        for (var p = 0; p < parts; p++)
        {
            var rows = (n / parts) + (p < n % parts ? 1 : 0);
            var name = OutputLayout.PartName(p);
            Directory.CreateDirectory(Path.Combine(root, OutputLayout.EmbeddingsFolder));
            var lines = new StringBuilder();
            await using (var file = new FileStream(Path.Combine(root, name + ".npy"), FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
            {
                NpyFormat.WriteHeader(file, rows, d);
                for (var r = 0; r < rows; r++)
                {
                    FillUnit(random, row);
                    System.Runtime.InteropServices.MemoryMarshal.AsBytes(row.AsSpan()).CopyTo(bytes);
                    file.Write(bytes);
                    lines.Append(CultureInfo.InvariantCulture, $"{{\"row\":{r},\"source\":\"synthetic/{p}/{r}.mp4\",\"content_sha256\":\"\",\"duration_s\":null,\"timestamps_s\":[]}}\n");
                }
            }

            await File.WriteAllTextAsync(Path.Combine(root, name + ".jsonl"), lines.ToString(), cancellationToken);
            manifestParts.Add(new ManifestPart(name + ".npy", name + ".jsonl", rows));
        }

        var manifest = new IndexManifest
        {
            Model = new ManifestModel("random:bench", "sha256:bench"),
            Sampling = new ManifestSampling(12, 224, 1, "t12-s224-fps1"),
            EmbeddingSize = d,
            Counts = new ManifestCounts(n, n, 0, 0),
            Parts = manifestParts,
        };
        await IndexManifest.WriteAsync(store, manifest, Array.Empty<FailureRecord>(), cancellationToken);
    }

    private static float[] UnitVector(Random random, int d)
    {
        var v = new float[d];
        FillUnit(random, v);
        return v;
    }

    private static void FillUnit(Random random, float[] v)
    {
        for (var i = 0; i < v.Length; i++)
        {
            v[i] = (float)((random.NextDouble() * 2) - 1);
        }

        var norm = System.Numerics.Tensors.TensorPrimitives.Norm(v);
        System.Numerics.Tensors.TensorPrimitives.Divide(v, norm, v);
    }

    private static void Print(string line) => Console.WriteLine(line);
}

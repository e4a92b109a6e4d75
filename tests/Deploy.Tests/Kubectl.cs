using System.Collections.Concurrent;
using System.Diagnostics;
using TempMe.Pipeline.Testing;

namespace TempMe.Pipeline.Deploy.Tests;

/// <summary>Runs <c>kubectl kustomize</c> on the kustomizations under deploy/k8s and caches the output.</summary>
internal static class Kubectl
{
    /// <summary>The Debian package that provides kubectl (with kustomize built in).</summary>
    public const string DebianPackage = "kubernetes-client";

    private static readonly ConcurrentDictionary<string, Lazy<Manifests>> Cache = new(StringComparer.Ordinal);

    /// <summary>Renders <paramref name="kustomization"/> (relative to deploy/k8s) once per test run.</summary>
    public static Manifests Render(string kustomization) =>
        Cache.GetOrAdd(kustomization, k => new Lazy<Manifests>(() => Manifests.Parse(k, Run(k)))).Value;

    /// <summary>
    /// Finds kubectl: <c>$KUBECTL</c> when set, else the first <c>kubectl</c> on <paramref name="searchPath"/>.
    /// Throws (never skips) with the package to install when there is none.
    /// </summary>
    public static string Locate(string? overridePath, string? searchPath)
    {
        if (!string.IsNullOrEmpty(overridePath))
        {
            return File.Exists(overridePath) ? overridePath : throw Missing($"KUBECTL={overridePath} does not exist");
        }

        foreach (var dir in (searchPath ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(dir, "kubectl");
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        throw Missing("kubectl is not on PATH");
    }

    private static InvalidOperationException Missing(string why) => new(
        $"{why}. The deployment tests need kubectl (for `kubectl kustomize`): install the Debian package " +
        $"'{DebianPackage}' (sudo apt-get install -y {DebianPackage}, as scripts/install-deps.sh --test should) " +
        "or point KUBECTL at a kubectl binary.");

    private static string Run(string kustomization)
    {
        var kubectl = Locate(Environment.GetEnvironmentVariable("KUBECTL"), Environment.GetEnvironmentVariable("PATH"));
        var dir = Path.Combine(RepoPaths.Root, "deploy", "k8s", kustomization);
        Assert.True(Directory.Exists(dir), $"missing kustomization folder {dir}");

        var start = new ProcessStartInfo(kubectl)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = RepoPaths.Root,
        };
        start.ArgumentList.Add("kustomize");
        start.ArgumentList.Add(dir);

        using var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {kubectl}");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromSeconds(120)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{kubectl} kustomize {dir} ran for more than 120 s");
        }

        // Deprecation warnings (bases, patchesStrategicMerge on kustomize v5) go to stderr and are fine.
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{kubectl} kustomize {dir} exited {process.ExitCode}:\n{stderr.Result}");
        }

        return stdout.Result;
    }
}

using System.Diagnostics;
using System.Text;

namespace TempMe.Pipeline.Testing;

/// <summary>Runs the built <c>tempme</c> command (copied beside the test assembly) as a separate process.</summary>
internal static class TempmeCli
{
    /// <summary>Path of tempme.dll beside the tests.</summary>
    public static string Dll => Path.Combine(AppContext.BaseDirectory, "tempme.dll");

    /// <summary>Starts <c>tempme</c> with <paramref name="args"/>, output redirected.</summary>
    public static Process Start(params string[] args)
    {
        var info = new ProcessStartInfo("dotnet") { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        info.ArgumentList.Add(Dll);
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        return Process.Start(info) ?? throw new InvalidOperationException("could not start tempme");
    }

    /// <summary>Runs <c>tempme</c> to completion (at most <paramref name="timeout"/>), returning exit code and output.</summary>
    public static async Task<(int ExitCode, string Stdout, string Stderr)> RunAsync(TimeSpan timeout, params string[] args)
    {
        using var process = Start(args);
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"tempme {string.Join(' ', args)} did not finish within {timeout}; stderr so far: {await stderr}");
        }

        return (process.ExitCode, await stdout, await stderr);
    }

    /// <summary>Every file under <paramref name="folder"/> except the ledger, as relative path → bytes.</summary>
    public static SortedDictionary<string, byte[]> Snapshot(string folder)
    {
        var files = new SortedDictionary<string, byte[]>(StringComparer.Ordinal);
        foreach (var file in Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories))
        {
            var relative = Path.GetRelativePath(folder, file);
            if (!relative.StartsWith(".tempme", StringComparison.Ordinal))
            {
                files[relative] = File.ReadAllBytes(file);
            }
        }

        return files;
    }

    /// <summary>UTF-8 text of a snapshot entry.</summary>
    public static string Text(byte[] bytes) => Encoding.UTF8.GetString(bytes);
}

using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using TempMe.Pipeline.Testing;

namespace TempMe.Pipeline.Dashboard.Tests;

/// <summary>
/// A real Prometheus server (Debian's <c>prometheus</c>, or PROMETHEUS_PATH) scraping the given targets every second,
/// with its own config, storage folder and loopback port; killed (with its folder removed) on dispose.
/// </summary>
internal sealed class PrometheusServer : IDisposable
{
    private readonly string _folder;
    private readonly Process _process;
    private readonly StringBuilder _output = new();

    private PrometheusServer(string folder, Process process, int port)
    {
        _folder = folder;
        _process = process;
        Http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/"), Timeout = TimeSpan.FromSeconds(5) };
        _process.OutputDataReceived += (_, e) => Append(e.Data);
        _process.ErrorDataReceived += (_, e) => Append(e.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    public static string BinaryPath => Environment.GetEnvironmentVariable("PROMETHEUS_PATH") is { Length: > 0 } path ? path : "/usr/bin/prometheus";

    public static string PromtoolPath => Path.Combine(Path.GetDirectoryName(BinaryPath)!, "promtool");

    /// <summary>Prometheus's own HTTP API.</summary>
    public HttpClient Http { get; }

    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    /// <summary>Starts Prometheus scraping <c>/metrics</c> of each <c>job → host:port</c> in <paramref name="targets"/>.</summary>
    public static PrometheusServer Start(IReadOnlyDictionary<string, string> targets)
    {
        Assert.True(File.Exists(BinaryPath), $"{BinaryPath} is missing: install Debian's prometheus (scripts/install-deps.sh --test) or set PROMETHEUS_PATH.");
        var folder = Path.Combine(Path.GetTempPath(), $"tempme-prom-{Guid.NewGuid():N}");
        Directory.CreateDirectory(Path.Combine(folder, "data"));
        var config = new StringBuilder("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n");
        foreach (var (job, target) in targets)
        {
            config.Append(CultureInfo.InvariantCulture, $"  - job_name: {job}\n    metrics_path: /metrics\n    static_configs:\n      - targets: ['{target}']\n");
        }

        File.WriteAllText(Path.Combine(folder, "prometheus.yml"), config.ToString());
        var port = TestEnvironment.FreePort();
        var info = new ProcessStartInfo(BinaryPath) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false, WorkingDirectory = folder };
        foreach (var arg in new[]
                 {
                     $"--config.file={Path.Combine(folder, "prometheus.yml")}", $"--storage.tsdb.path={Path.Combine(folder, "data")}",
                     $"--web.listen-address=127.0.0.1:{port}", "--storage.tsdb.retention.time=1h",
                 })
        {
            info.ArgumentList.Add(arg);
        }

        return new PrometheusServer(folder, Process.Start(info)!, port);
    }

    /// <summary>Runs an instant query until it returns at least one series; fails with Prometheus's log after <paramref name="timeout"/>.</summary>
    public async Task<JsonElement> QueryUntilFoundAsync(string promql, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        var last = "no answer";
        while (DateTime.UtcNow < deadline && !_process.HasExited)
        {
            try
            {
                var text = await Http.GetStringAsync("api/v1/query?query=" + Uri.EscapeDataString(promql));
                last = text;
                var root = JsonDocument.Parse(text).RootElement;
                Assert.Equal("success", root.GetProperty("status").GetString());
                var result = root.GetProperty("data").GetProperty("result");
                if (result.GetArrayLength() > 0)
                {
                    return result.Clone();
                }
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
                last = e.Message;
            }

            await Task.Delay(250);
        }

        throw new TimeoutException($"Prometheus found no series for {promql} within {timeout} (exited: {_process.HasExited}); last answer: {last}\n{Output}");
    }

    /// <summary>Runs <c>promtool check metrics</c> over <paramref name="exposition"/>: its exit code and what it printed.</summary>
    public static (int ExitCode, string Output) CheckMetrics(string exposition)
    {
        Assert.True(File.Exists(PromtoolPath), $"{PromtoolPath} is missing: install Debian's prometheus (scripts/install-deps.sh --test) or set PROMETHEUS_PATH.");
        var info = new ProcessStartInfo(PromtoolPath) { RedirectStandardInput = true, RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        info.ArgumentList.Add("check");
        info.ArgumentList.Add("metrics");
        using var promtool = Process.Start(info)!;
        var stdout = promtool.StandardOutput.ReadToEndAsync();
        var stderr = promtool.StandardError.ReadToEndAsync();
        promtool.StandardInput.Write(exposition);
        promtool.StandardInput.Close();
        promtool.WaitForExit();
        return (promtool.ExitCode, stdout.Result + stderr.Result);
    }

    public void Dispose()
    {
        Http.Dispose();
        try
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit();
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }

        _process.Dispose();
        try
        {
            Directory.Delete(_folder, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_output)
        {
            _output.AppendLine(line);
        }
    }
}

using System.Net;

namespace TempMe.Pipeline.Testing.Cluster;

/// <summary>
/// One test's cluster: a fresh PostgreSQL database, coordinator silos (each waited for until <c>/readyz</c> answers
/// 200) and worker silos, all separate <c>tempme</c> processes. Disposing it kills every process it started or adopted,
/// so a failing test leaves nothing running; <see cref="Dump"/> gives their output for failure messages.
/// </summary>
/// <remarks>
/// The fixture that creates a cluster says how its silos and workers start (arguments, environment, token); the
/// cluster owns only the life cycle, which is what the distributed and dashboard suites used to repeat in each test.
/// </remarks>
public sealed class TestCluster : IDisposable
{
    private static readonly TimeSpan DefaultReadyTimeout = TimeSpan.FromSeconds(30);

    private readonly Func<string, int, TempmeProcess> _startSilo;
    private readonly Func<string, string, TempmeProcess> _startWorker;
    private readonly List<TempmeProcess> _silos = [];
    private readonly List<TempmeProcess> _workers = [];
    private readonly List<TempmeProcess> _others = [];
    private readonly List<int> _ports = [];
    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(10) };

    /// <summary>A cluster over <paramref name="database"/> whose silos start with <paramref name="startSilo"/> (database, HTTP port) and workers with <paramref name="startWorker"/> (database, worker id).</summary>
    public TestCluster(string database, Func<string, int, TempmeProcess> startSilo, Func<string, string, TempmeProcess> startWorker)
    {
        Database = database;
        _startSilo = startSilo;
        _startWorker = startWorker;
    }

    /// <summary>
    /// Starts <paramref name="silos"/> coordinators together, waits until each is ready, then starts
    /// <paramref name="workers"/> workers named <c>worker-a</c>, <c>worker-b</c>, and so on.
    /// </summary>
    public static async Task<TestCluster> StartAsync(
        string database, Func<string, int, TempmeProcess> startSilo, Func<string, string, TempmeProcess> startWorker, int silos, int workers, TimeSpan? readyTimeout = null)
    {
        var cluster = new TestCluster(database, startSilo, startWorker);
        try
        {
            for (var i = 0; i < silos; i++)
            {
                cluster.StartSilo();
            }

            foreach (var port in cluster.Ports)
            {
                await cluster.WaitReadyAsync(port, readyTimeout ?? DefaultReadyTimeout * Math.Max(1, silos));
            }

            for (var i = 0; i < workers; i++)
            {
                cluster.AddWorker($"worker-{(char)('a' + i)}");
            }

            return cluster;
        }
        catch
        {
            cluster.Dispose();
            throw;
        }
    }

    /// <summary>The cluster's PostgreSQL connection string.</summary>
    public string Database { get; }

    /// <summary>The coordinator silos, in start order (a restarted one is added again).</summary>
    public IReadOnlyList<TempmeProcess> Silos => _silos;

    /// <summary>The worker silos, in start order.</summary>
    public IReadOnlyList<TempmeProcess> Workers => _workers;

    /// <summary>The first coordinator silo.</summary>
    public TempmeProcess Silo => _silos[0];

    /// <summary>The HTTP port of the first coordinator silo.</summary>
    public int Port => _ports[0];

    /// <summary>The HTTP ports of the coordinator silos, in start order.</summary>
    public IReadOnlyList<int> Ports => _ports;

    /// <summary>The first coordinator's base address.</summary>
    public string Url => $"http://127.0.0.1:{Port}";

    /// <summary>Every process of the cluster, silos first.</summary>
    public TempmeProcess[] Processes => [.. _silos, .. _workers, .. _others];

    /// <summary>Starts a coordinator silo on <paramref name="port"/> (a free one when null) and waits until it is ready.</summary>
    /// <param name="port">The HTTP port; pass a dead silo's port to restart it where clients already look.</param>
    /// <param name="start">How to start this one, when it differs from the fixture's default.</param>
    /// <param name="readyTimeout">How long it may take (default 30 s).</param>
    public async Task<TempmeProcess> AddSiloAsync(int? port = null, Func<string, int, TempmeProcess>? start = null, TimeSpan? readyTimeout = null)
    {
        var silo = StartSilo(port, start);
        await WaitReadyAsync(_ports[^1], readyTimeout ?? DefaultReadyTimeout);
        return silo;
    }

    /// <summary>Starts a coordinator silo without waiting for it (several coordinators are waited for together).</summary>
    public TempmeProcess StartSilo(int? port = null, Func<string, int, TempmeProcess>? start = null)
    {
        var chosen = port ?? TestEnvironment.FreePort();
        var silo = (start ?? _startSilo)(Database, chosen);
        _silos.Add(silo);
        _ports.Add(chosen);
        return silo;
    }

    /// <summary>Starts a worker silo named <paramref name="id"/>.</summary>
    /// <param name="id">The worker id (<c>--worker-id</c>).</param>
    /// <param name="start">How to start this one, when it differs from the fixture's default.</param>
    public TempmeProcess AddWorker(string id, Func<string, string, TempmeProcess>? start = null)
    {
        var worker = (start ?? _startWorker)(Database, id);
        _workers.Add(worker);
        return worker;
    }

    /// <summary>Adopts another process of the test (a <c>tempme submit</c>, say) so it is dumped and killed with the cluster.</summary>
    public TempmeProcess Adopt(TempmeProcess process)
    {
        _others.Add(process);
        return process;
    }

    /// <summary>Waits until the silo on <paramref name="port"/> answers <c>/readyz</c> with 200.</summary>
    public Task WaitReadyAsync(int port, TimeSpan timeout) =>
        WaitStatusAsync(_http, $"http://127.0.0.1:{port}/readyz", HttpStatusCode.OK, timeout, Processes);

    /// <summary>The output of every process of the cluster, for failure messages.</summary>
    public string Dump() => Dump(Processes);

    /// <summary>Polls <paramref name="url"/> until it answers <paramref name="status"/>; fails with the processes' output.</summary>
    public static async Task WaitStatusAsync(HttpClient http, string url, HttpStatusCode status, TimeSpan timeout, params TempmeProcess[] processes)
    {
        ArgumentNullException.ThrowIfNull(http);
        var deadline = DateTime.UtcNow + timeout;
        var last = "no answer";
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                using var response = await http.GetAsync(url);
                last = $"{(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}";
                if (response.StatusCode == status)
                {
                    return;
                }
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
                last = e.Message;
            }

            await Task.Delay(200);
        }

        throw new TimeoutException($"{url} did not answer {(int)status} within {timeout}; last: {last}\n{Dump(processes)}");
    }

    /// <summary>The last 4,000 characters of each process's output, under a header naming it, its pid and exit code.</summary>
    public static string Dump(IEnumerable<TempmeProcess> processes) =>
        string.Join("\n", processes.Select(p => $"--- tempme {p.Name} (pid {p.Id}{(p.HasExited ? $", exited {p.ExitCode}" : "")}) ---\n{Tail(p.Output)}"));

    private static string Tail(string text) => text.Length > 4000 ? text[^4000..] : text;

    /// <summary>Kills every process of the cluster; one that cannot be killed does not keep the others alive.</summary>
    public void Dispose()
    {
        var errors = new List<Exception>();
        foreach (var process in Processes)
        {
            try
            {
                process.Dispose();
            }
            catch (Exception e) when (e is InvalidOperationException or System.ComponentModel.Win32Exception or AggregateException)
            {
                errors.Add(e);
            }
        }

        _http.Dispose();
        if (errors.Count > 0)
        {
            throw new AggregateException("some cluster processes could not be stopped", errors);
        }
    }
}

using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;
using Orleans.Configuration;
using Orleans.Hosting;
using TempMe.Pipeline.Grains.Cluster;
using TempMe.Pipeline.Testing;
using TempMe.Pipeline.Testing.Postgres;

namespace TempMe.Pipeline.Grains.Tests;

/// <summary>
/// Real silos, each a host of its own in this process or in a child process, joined through our membership tables in a fresh database
/// (the real ADO.NET providers; no test-cluster membership), plus one client. Liveness is tuned short so a dead silo
/// is found in seconds; every wait has a deadline that fails the test instead of hanging it.
/// </summary>
internal sealed class PostgresCluster : IAsyncDisposable
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(90);
    private readonly Dictionary<string, IHost> _silos = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Process> _processes = new(StringComparer.Ordinal);
    private IHost? _client;

    private PostgresCluster(string connectionString) => ConnectionString = connectionString;

    /// <summary>The test database.</summary>
    public string ConnectionString { get; }

    /// <summary>The cluster id, unique per test.</summary>
    public string ClusterId { get; } = $"test-{Guid.NewGuid():N}"[..16];

    /// <summary>The service id.</summary>
    public string ServiceId => TestSilo.ServiceId;

    /// <summary>The client, once <see cref="ConnectClientAsync"/> ran.</summary>
    public IClusterClient Client => _client?.Services.GetRequiredService<IClusterClient>() ?? throw new InvalidOperationException("No client yet: call ConnectClientAsync.");

    /// <summary>A fresh database with the Orleans schema applied.</summary>
    public static async Task<PostgresCluster> CreateAsync(TestPostgres postgres, string prefix)
    {
        var connectionString = postgres.CreateDatabase(prefix);
        await OrleansSchema.MigrateAsync(connectionString, CancellationToken.None);
        // TestPostgres turns pooling off (for its server restarts); silos pool as they do in production.
        return new PostgresCluster(new NpgsqlConnectionStringBuilder(connectionString) { Pooling = true }.ToString());
    }

    /// <summary>Starts silo <paramref name="name"/> in this process and answers how long the start took.</summary>
    public async Task<TimeSpan> StartSiloAsync(string name)
    {
        var host = TestSilo.Build(ConnectionString, ClusterId, name);
        var watch = Stopwatch.StartNew();
        await host.StartAsync();
        _silos[name] = host;
        return watch.Elapsed;
    }

    /// <summary>
    /// Starts silo <paramref name="name"/> in a child process (this test assembly run as <see cref="SiloProgram"/>)
    /// and waits until it has joined; answers how long that took.
    /// </summary>
    public async Task<TimeSpan> StartSiloProcessAsync(string name)
    {
        var dll = typeof(SiloProgram).Assembly.Location;
        var info = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false,
        };
        foreach (var arg in (string[])["exec", dll, "silo", ConnectionString, ClusterId, name])
        {
            info.ArgumentList.Add(arg);
        }

        var watch = Stopwatch.StartNew();
        var process = Process.Start(info) ?? throw new InvalidOperationException($"Could not start {info.FileName} for silo {name}.");
        _processes[name] = process;
        var errors = process.StandardError.ReadToEndAsync();
        while (await process.StandardOutput.ReadLineAsync() is { } line)
        {
            if (line == SiloProgram.ReadyLine)
            {
                return watch.Elapsed;
            }
        }

        throw new InvalidOperationException($"Silo process {name} exited with {(process.WaitForExit(5000) ? process.ExitCode : -1)} before joining: {await errors}");
    }

    /// <summary>Kills the silo process <paramref name="name"/> with SIGKILL: no shutdown code runs, its membership row stays active.</summary>
    public async Task KillSiloProcessAsync(string name)
    {
        var process = _processes[name];
        _processes.Remove(name);
        process.Kill(entireProcessTree: true);
        await process.WaitForExitAsync();
        process.Dispose();
    }

    /// <summary>Connects the client through the gateways listed in our membership table; answers how long it took.</summary>
    public async Task<TimeSpan> ConnectClientAsync()
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.UseOrleansClient(client =>
        {
            client.UseTempMePostgresClustering(ConnectionString, ClusterId, ServiceId);
            // A call routed through a dead silo's gateway waits for the whole response timeout: keep it short.
            client.Configure<ClientMessagingOptions>(o => o.ResponseTimeout = TimeSpan.FromSeconds(5));
            client.Configure<GatewayOptions>(o => o.GatewayListRefreshPeriod = TimeSpan.FromSeconds(1));
        });
        var host = builder.Build();
        var watch = Stopwatch.StartNew();
        await host.StartAsync();
        _client = host;
        return watch.Elapsed;
    }

    /// <summary>Status of each silo row of this cluster in orleans_membership (SiloStatus numbers: 3 active, 6 dead).</summary>
    public async Task<Dictionary<string, int>> MembershipAsync()
    {
        await using var conn = new NpgsqlConnection(ConnectionString);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand("SELECT silo_name, status FROM orleans_membership WHERE deployment_id = $1", conn);
        cmd.Parameters.Add(new NpgsqlParameter { Value = ClusterId });
        await using var reader = await cmd.ExecuteReaderAsync();
        var rows = new Dictionary<string, int>(StringComparer.Ordinal);
        while (await reader.ReadAsync())
        {
            rows[reader.GetString(0)] = reader.GetInt32(1);
        }

        return rows;
    }

    /// <summary>Waits until <paramref name="check"/> holds; fails with <paramref name="what"/> after the deadline. Answers the time waited.</summary>
    public static async Task<TimeSpan> WaitUntilAsync(Func<Task<bool>> check, string what)
    {
        var watch = Stopwatch.StartNew();
        while (!await check())
        {
            if (watch.Elapsed > Deadline)
            {
                throw new TimeoutException($"Waited {Deadline.TotalSeconds:0} s for {what}.");
            }

            await Task.Delay(50);
        }

        return watch.Elapsed;
    }

    /// <summary>
    /// Calls the cluster until a call succeeds: right after a silo dies, calls through it time out or are rejected
    /// until membership catches up. Fails after the deadline with the last error.
    /// </summary>
    public static async Task<T> RetryAsync<T>(Func<Task<T>> call)
    {
        var watch = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                return await call();
            }
            catch (Exception e) when ((e is TimeoutException or OrleansException) && watch.Elapsed < Deadline)
            {
                await Task.Delay(100);
            }
        }
    }

    /// <summary>The services of silo <paramref name="name"/>.</summary>
    public IServiceProvider Services(string name) => _silos[name].Services;

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (_client is { } client)
        {
            await client.StopAsync();
            client.Dispose();
        }

        foreach (var host in _silos.Values)
        {
            await host.StopAsync();
            host.Dispose();
        }

        _silos.Clear();
        foreach (var process in _processes.Values)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
            process.Dispose();
        }

        _processes.Clear();
    }
}

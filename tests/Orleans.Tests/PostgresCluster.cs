using System.Diagnostics;
using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;
using Orleans.Configuration;
using Orleans.Hosting;
using TempMe.Pipeline.Grains.Cluster;
using TempMe.Pipeline.Testing;

namespace TempMe.Pipeline.Cluster.Tests;

/// <summary>
/// Real silos in this process, each a host of its own, joined through our membership tables in a fresh database
/// (the real ADO.NET providers; no test-cluster membership), plus one client. Liveness is tuned short so a dead silo
/// is found in seconds; every wait has a deadline that fails the test instead of hanging it.
/// </summary>
internal sealed class PostgresCluster : IAsyncDisposable
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(90);
    private readonly Dictionary<string, IHost> _silos = new(StringComparer.Ordinal);
    private IHost? _client;

    private PostgresCluster(string connectionString) => ConnectionString = connectionString;

    /// <summary>The test database.</summary>
    public string ConnectionString { get; }

    /// <summary>The cluster id, unique per test.</summary>
    public string ClusterId { get; } = $"test-{Guid.NewGuid():N}"[..16];

    /// <summary>The service id.</summary>
    public string ServiceId => "tempme-test";

    /// <summary>The client, once <see cref="ConnectClientAsync"/> ran.</summary>
    public IClusterClient Client => _client?.Services.GetRequiredService<IClusterClient>() ?? throw new InvalidOperationException("No client yet: call ConnectClientAsync.");

    /// <summary>A fresh database with the Orleans schema applied.</summary>
    public static async Task<PostgresCluster> CreateAsync(TestPostgres postgres, string prefix)
    {
        var connectionString = postgres.CreateDatabase(prefix);
        await OrleansSchema.MigrateAsync(connectionString, CancellationToken.None);
        return new PostgresCluster(connectionString);
    }

    /// <summary>Starts silo <paramref name="name"/> on free loopback ports and answers how long the start took.</summary>
    public async Task<TimeSpan> StartSiloAsync(string name)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.UseOrleans(silo =>
        {
            silo.UseTempMePostgres(ConnectionString, ClusterId, ServiceId)
                .UseTempMeEndpoints(new SiloEndpoints(0, 0, IPAddress.Loopback));
            silo.Configure<SiloOptions>(o => o.SiloName = name);
            silo.Configure<ClusterMembershipOptions>(o =>
            {
                // Short liveness so a stopped silo is declared dead within seconds (defaults take 10-60 s).
                o.ProbeTimeout = TimeSpan.FromSeconds(1);
                o.NumMissedProbesLimit = 2;
                o.NumVotesForDeathDeclaration = 1;
                o.IAmAliveTablePublishTimeout = TimeSpan.FromSeconds(5);
                o.TableRefreshTimeout = TimeSpan.FromSeconds(2);
            });
            silo.Configure<ReminderOptions>(o => o.MinimumReminderPeriod = TimeSpan.FromSeconds(1));
        });
        var host = builder.Build();
        var watch = Stopwatch.StartNew();
        await host.StartAsync();
        _silos[name] = host;
        return watch.Elapsed;
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

    /// <summary>
    /// Stops silo <paramref name="name"/> without a graceful shutdown (the stop token is already cancelled, as
    /// TestCluster's KillSilo does): it leaves the cluster without handing off, and the others must find it dead.
    /// </summary>
    public async Task KillSiloAsync(string name)
    {
        var host = _silos[name];
        _silos.Remove(name);
        try
        {
            await host.StopAsync(new CancellationToken(canceled: true));
        }
        catch (OperationCanceledException)
        {
            // Expected: the stop was cancelled from the start.
        }

        host.Dispose();
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
    }
}

using System.CommandLine;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using TempMe.Pipeline.Encoder;
using TempMe.Pipeline.Worker.Gpu;
using TempMe.Pipeline.Contracts;

namespace TempMe.Pipeline.Cli.Commands;

/// <summary><c>tempme worker</c>: a worker silo that claims shards of running jobs from the coordination grains and embeds them with the shared shard pipeline.</summary>
internal static class WorkerCommand
{
    /// <summary>Creates the command.</summary>
    public static Command Create()
    {
        var o = new WorkerCommandOptions();
        var command = new Command("worker", "Run a distributed-indexing worker: an Orleans silo of the worker role that claims shards from the coordinators, embeds them and writes parts to the job's output. SIGTERM hands unfinished shards back, leaves the cluster and exits 0.");
        foreach (var option in o.All)
        {
            command.Options.Add(option);
        }

        o.Cluster.AddTo(command);
        CommandAction.Set(command, (parse, cancellationToken) => RunAsync(Options(parse, o), cancellationToken));
        return command;
    }

    /// <summary>The worker's settings from the command line; bad values are usage errors that name the option.</summary>
    private static WorkerOptions Options(ParseResult parse, WorkerCommandOptions o)
    {
        var connection = SiloCommand.ConnectionString(parse.GetValue(o.Db));
        var leaseSeconds = parse.GetValue(o.Lease);
        var heartbeatSeconds = parse.GetValue(o.Heartbeat);
        if (!(leaseSeconds > 0) || !(heartbeatSeconds > 0) || heartbeatSeconds >= leaseSeconds)
        {
            throw new UsageException($"--heartbeat-seconds ({heartbeatSeconds}) must be positive and below --lease-seconds ({leaseSeconds}).");
        }

        if (parse.GetValue(o.Concurrency) <= 0 || parse.GetValue(o.Batch) <= 0 || parse.GetValue(o.Timeout) <= 0)
        {
            throw new UsageException("--concurrency, --batch and --timeout-seconds must be positive.");
        }

        if (parse.GetValue(o.MaxModelBytes) <= 0)
        {
            throw new UsageException("--max-model-bytes must be positive.");
        }

        var roots = ModelRoots.FromOptionOrEnvironment(parse.GetValue(o.ModelRoots));
        if (roots.Folders.FirstOrDefault(f => !Directory.Exists(f)) is { } missing)
        {
            throw new UsageException($"{ModelRoots.OptionName}: {missing} is not a folder; name existing folders that hold checkpoints.");
        }

        return new WorkerOptions
        {
            ConnectionString = connection,
            Lease = TimeSpan.FromSeconds(leaseSeconds),
            Heartbeat = TimeSpan.FromSeconds(heartbeatSeconds),
            Concurrency = parse.GetValue(o.Concurrency),
            BatchSize = parse.GetValue(o.Batch),
            HealthUrls = parse.GetValue(o.Health),
            WorkerId = parse.GetValue(o.WorkerId) is { Length: > 0 } id ? id : $"{Environment.MachineName}:{Environment.ProcessId}",
            PerVideoTimeout = TimeSpan.FromSeconds(parse.GetValue(o.Timeout)),
            ModelRoots = roots,
            MaxModelBytes = parse.GetValue(o.MaxModelBytes),
            JobRetry = SiloCommand.JobRetry(parse, o.Attempts, o.RetrySeconds),
            Endpoints = o.Cluster.Endpoints(parse),
            Cluster = o.Cluster.Identity(parse),
        };
    }

    /// <summary>Builds and starts the worker silo, then runs until SIGTERM (or the host stops) and leaves the cluster.</summary>
    private static async Task<int> RunAsync(WorkerOptions options, CancellationToken cancellationToken)
    {
        using var loggers = LoggerFactory.Create(b => b.AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "HH:mm:ss "; }).SetMinimumLevel(LogLevel.Information));
        // The Azure SDK's own warnings (failed requests, retries) reach the worker log, with SAS signatures redacted.
        using var sdkLogs = new TempMe.Pipeline.Storage.AzureSdkLogForwarder(loggers);
        Microsoft.Extensions.Hosting.IHost host;
        try
        {
            host = await WorkerSilo.BuildAsync(options, cancellationToken);
        }
        catch (WorkerStartException e)
        {
            await Console.Error.WriteLineAsync($"error: {e.Message}");
            return ExitCodes.Failure;
        }

        using (host)
        {
            try
            {
                await host.StartAsync(cancellationToken);
            }
            catch (Exception e) when (e is not OperationCanceledException && e is not OutOfMemoryException)
            {
                await Console.Error.WriteLineAsync($"error: the worker silo cannot join the cluster ({e.GetType().Name}: {SecretRedaction.Redact(e.Message)}); check --db, --silo-port/--gateway-port (in use?) and --cluster-id.");
                return ExitCodes.Failure;
            }

            var lifetime = host.Services.GetRequiredService<Microsoft.Extensions.Hosting.IHostApplicationLifetime>();
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, lifetime.ApplicationStopping);
            try
            {
                await Task.Delay(Timeout.Infinite, stop.Token);
            }
            catch (OperationCanceledException)
            {
            }

            await host.StopAsync(CancellationToken.None);
            // Unfinished shards were handed back; nothing is lost.
            await Console.Error.WriteLineAsync("worker stopped: unfinished shards were handed back.");
        }

        return ExitCodes.Ok;
    }

    /// <summary>The command's options.</summary>
    private sealed class WorkerCommandOptions
    {
        public WorkerCommandOptions() => (Attempts, RetrySeconds) = SiloCommand.JobRetryOptions("opening a job's model or output, or of a worker's pass over it (counted across workers)");

        public Option<string?> Db { get; } = new("--db") { Description = "PostgreSQL connection string (or set TEMPME_DB)." };

        public Option<double> Lease { get; } = new("--lease-seconds") { Description = "Lease length: a worker silent this long loses its shards to others.", DefaultValueFactory = _ => 300 };

        public Option<double> Heartbeat { get; } = new("--heartbeat-seconds") { Description = "Seconds between lease renewals and worker reports (well below the lease).", DefaultValueFactory = _ => 30 };

        public Option<int> Concurrency { get; } = new("--concurrency") { Description = "Concurrent downloads + decoders.", DefaultValueFactory = _ => 2 };

        public Option<int> Batch { get; } = new("--batch") { Description = "Videos per encoder batch.", DefaultValueFactory = _ => 4 };

        public Option<string?> Health { get; } = new("--health-urls") { Description = "Serve /healthz and /readyz on these URLs (e.g. http://127.0.0.1:8081)." };

        public Option<string?> WorkerId { get; } = new("--worker-id") { Description = "Worker identity in leases and status (default HOST:PID)." };

        public Option<int> Timeout { get; } = new("--timeout-seconds") { Description = "Decode time limit per video.", DefaultValueFactory = _ => 120 };

        public Option<string?> ModelRoots { get; } = new(Encoder.ModelRoots.OptionName) { Description = $"Comma-separated local folders that jobs' models may lie under (or set {Encoder.ModelRoots.EnvironmentVariable}; none: only random: and blob models)." };

        public Option<long> MaxModelBytes { get; } = new("--max-model-bytes") { Description = "The most bytes a model named by a blob prefix may download.", DefaultValueFactory = _ => WorkerOptions.DefaultMaxModelBytes };

        public Option<int> Attempts { get; }

        public Option<double> RetrySeconds { get; }

        public ClusterOptions Cluster { get; } = new();

        public Option[] All => [Db, Lease, Heartbeat, Concurrency, Batch, Health, WorkerId, Timeout, ModelRoots, MaxModelBytes, Attempts, RetrySeconds];
    }
}

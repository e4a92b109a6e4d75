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
        var db = new Option<string?>("--db") { Description = "PostgreSQL connection string (or set TEMPME_DB)." };
        var lease = new Option<double>("--lease-seconds") { Description = "Lease length: a worker silent this long loses its shards to others.", DefaultValueFactory = _ => 300 };
        var heartbeat = new Option<double>("--heartbeat-seconds") { Description = "Seconds between lease renewals and worker reports (well below the lease).", DefaultValueFactory = _ => 30 };
        var concurrency = new Option<int>("--concurrency") { Description = "Concurrent downloads + decoders.", DefaultValueFactory = _ => 2 };
        var batch = new Option<int>("--batch") { Description = "Videos per encoder batch.", DefaultValueFactory = _ => 4 };
        var health = new Option<string?>("--health-urls") { Description = "Serve /healthz and /readyz on these URLs (e.g. http://127.0.0.1:8081)." };
        var workerId = new Option<string?>("--worker-id") { Description = "Worker identity in leases and status (default HOST:PID)." };
        var timeout = new Option<int>("--timeout-seconds") { Description = "Decode time limit per video.", DefaultValueFactory = _ => 120 };
        var modelRoots = new Option<string?>(ModelRoots.OptionName) { Description = $"Comma-separated local folders that jobs' models may lie under (or set {ModelRoots.EnvironmentVariable}; none: only random: and blob models)." };
        var maxModelBytes = new Option<long>("--max-model-bytes") { Description = "The most bytes a model named by a blob prefix may download.", DefaultValueFactory = _ => WorkerOptions.DefaultMaxModelBytes };
        var (attempts, retrySeconds) = SiloCommand.JobRetryOptions("opening a job's model or output, or of a worker's pass over it (counted across workers)");
        var cluster = new ClusterOptions();
        var command = new Command("worker", "Run a distributed-indexing worker: an Orleans silo of the worker role that claims shards from the coordinators, embeds them and writes parts to the job's output. SIGTERM hands unfinished shards back, leaves the cluster and exits 0.")
        {
            db, lease, heartbeat, concurrency, batch, health, workerId, timeout, modelRoots, maxModelBytes, attempts, retrySeconds,
        };
        cluster.AddTo(command);

        CommandAction.Set(command, async (parse, cancellationToken) =>
        {
            var connection = SiloCommand.ConnectionString(parse.GetValue(db));
            var leaseSeconds = parse.GetValue(lease);
            var heartbeatSeconds = parse.GetValue(heartbeat);
            if (!(leaseSeconds > 0) || !(heartbeatSeconds > 0) || heartbeatSeconds >= leaseSeconds)
            {
                throw new UsageException($"--heartbeat-seconds ({heartbeatSeconds}) must be positive and below --lease-seconds ({leaseSeconds}).");
            }

            if (parse.GetValue(concurrency) <= 0 || parse.GetValue(batch) <= 0 || parse.GetValue(timeout) <= 0)
            {
                throw new UsageException("--concurrency, --batch and --timeout-seconds must be positive.");
            }

            if (parse.GetValue(maxModelBytes) <= 0)
            {
                throw new UsageException("--max-model-bytes must be positive.");
            }

            var roots = ModelRoots.FromOptionOrEnvironment(parse.GetValue(modelRoots));
            if (roots.Folders.FirstOrDefault(f => !Directory.Exists(f)) is { } missing)
            {
                throw new UsageException($"{ModelRoots.OptionName}: {missing} is not a folder; name existing folders that hold checkpoints.");
            }

            var options = new WorkerOptions
            {
                ConnectionString = connection,
                Lease = TimeSpan.FromSeconds(leaseSeconds),
                Heartbeat = TimeSpan.FromSeconds(heartbeatSeconds),
                Concurrency = parse.GetValue(concurrency),
                BatchSize = parse.GetValue(batch),
                HealthUrls = parse.GetValue(health),
                WorkerId = parse.GetValue(workerId) is { Length: > 0 } id ? id : $"{Environment.MachineName}:{Environment.ProcessId}",
                PerVideoTimeout = TimeSpan.FromSeconds(parse.GetValue(timeout)),
                ModelRoots = roots,
                MaxModelBytes = parse.GetValue(maxModelBytes),
                JobRetry = SiloCommand.JobRetry(parse, attempts, retrySeconds),
                Endpoints = cluster.Endpoints(parse),
                Cluster = cluster.Identity(parse),
            };

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
        });
        return command;
    }
}

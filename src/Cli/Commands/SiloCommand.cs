using System.CommandLine;
using Microsoft.Extensions.Hosting;
using TempMe.Pipeline.Encoder;
using TempMe.Pipeline.Silo;
using TempMe.Pipeline.Contracts;

namespace TempMe.Pipeline.Cli.Commands;

/// <summary><c>tempme silo</c>: a coordinator silo of distributed indexing (job grains, HTTP API, dashboards) over PostgreSQL.</summary>
internal static class SiloCommand
{
    /// <summary>Creates the command.</summary>
    public static Command Create()
    {
        var db = new Option<string?>("--db") { Description = $"PostgreSQL connection string (or set {SiloOptions.DatabaseVariable}; prefer the variable, so the secret stays out of process listings)." };
        var urls = new Option<string>("--urls") { Description = "Listen URLs, comma-separated.", DefaultValueFactory = _ => "http://127.0.0.1:8080" };
        var sweep = new Option<double>("--lease-sweep-seconds") { Description = "Seconds between sweeps that requeue shards whose lease expired.", DefaultValueFactory = _ => 5 };
        var roots = new Option<string?>("--allowed-roots") { Description = "Comma-separated local folders that job sources and outputs may lie under (none: local paths are refused)." };
        var modelRoots = new Option<string?>(ModelRoots.OptionName) { Description = $"Comma-separated local folders that jobs' models may lie under; a local model elsewhere is refused at submit (or set {ModelRoots.EnvironmentVariable}; none: the workers decide)." };
        var (attempts, retrySeconds) = JobRetryOptions("listing a job's source (storage unreachable, throttled)");
        var cluster = new ClusterOptions();
        var command = new Command("silo", $"Run a distributed-indexing coordinator: an Orleans silo hosting the job grains, with the HTTP API, the dashboard at / and the Orleans dashboard at /orleans. Several may run at once. Mutating API calls need the bearer token in {SiloOptions.ApiTokenVariable}.")
        {
            db, urls, sweep, roots, modelRoots, attempts, retrySeconds,
        };
        cluster.AddTo(command);

        CommandAction.Set(command, async (parse, cancellationToken) =>
        {
            var connection = ConnectionString(parse.GetValue(db));
            var seconds = parse.GetValue(sweep);
            if (!(seconds > 0))
            {
                throw new UsageException($"--lease-sweep-seconds must be positive, got {seconds}.");
            }

            var allowed = (parse.GetValue(roots) ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(Path.GetFullPath).ToList();
            var options = new SiloOptions
            {
                ConnectionString = connection,
                Urls = parse.GetValue(urls)!,
                SweepInterval = TimeSpan.FromSeconds(seconds),
                AllowedRoots = allowed,
                ModelRoots = ModelRoots.FromOptionOrEnvironment(parse.GetValue(modelRoots)),
                JobRetry = JobRetry(parse, attempts, retrySeconds),
                ApiToken = Environment.GetEnvironmentVariable(SiloOptions.ApiTokenVariable) is { Length: > 0 } token ? token : null,
                Endpoints = cluster.Endpoints(parse),
                Cluster = cluster.Identity(parse),
            };

            Microsoft.AspNetCore.Builder.WebApplication app;
            try
            {
                app = await SiloHost.BuildAsync(options, cancellationToken);
            }
            catch (SiloStartException e)
            {
                await Console.Error.WriteLineAsync($"error: {e.Message}");
                return ExitCodes.Failure;
            }

            await using (app)
            {
                try
                {
                    await app.StartAsync(cancellationToken);
                }
                catch (IOException e)
                {
                    await Console.Error.WriteLineAsync($"error: cannot listen on {options.Urls}: {e.Message}");
                    return ExitCodes.Failure;
                }
                catch (Exception e) when (e is not OperationCanceledException && e is not OutOfMemoryException)
                {
                    await Console.Error.WriteLineAsync($"error: the silo cannot join the cluster ({e.GetType().Name}: {SecretRedaction.Redact(e.Message)}); check --db, --silo-port/--gateway-port (in use?) and --cluster-id.");
                    return ExitCodes.Failure;
                }

                if (options.ApiToken is null)
                {
                    await Console.Error.WriteLineAsync($"warning: {SiloOptions.ApiTokenVariable} is not set; the API refuses every change (submit, cancel, retry).");
                }

                await Console.Error.WriteLineAsync($"silo listening on {options.Urls}");
                using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, app.Lifetime.ApplicationStopping);
                try
                {
                    await Task.Delay(Timeout.Infinite, stop.Token);
                }
                catch (OperationCanceledException)
                {
                }

                await app.StopAsync(CancellationToken.None);
            }

            return ExitCodes.Ok;
        });
        return command;
    }

    /// <summary><c>--job-setup-attempts</c> and <c>--job-retry-seconds</c>, shared by the silo and the worker.</summary>
    internal static (Option<int> Attempts, Option<double> RetrySeconds) JobRetryOptions(string what) =>
        (new Option<int>("--job-setup-attempts") { Description = $"Failures in a row of {what} before the job is failed; each waits twice as long as the one before.", DefaultValueFactory = _ => 6 },
         new Option<double>("--job-retry-seconds") { Description = "Wait after a job's first failure in a row (doubling, at most 120 s).", DefaultValueFactory = _ => 2 });

    /// <summary>The job retry policy from the options of <see cref="JobRetryOptions"/>.</summary>
    internal static TempMe.Pipeline.Ledger.Postgres.JobRetryPolicy JobRetry(ParseResult parse, Option<int> attempts, Option<double> retrySeconds)
    {
        var count = parse.GetValue(attempts);
        var seconds = parse.GetValue(retrySeconds);
        if (count is < 1 or > 1000 || !(seconds > 0) || seconds > 3600)
        {
            throw new UsageException($"--job-setup-attempts must be from 1 to 1000 (got {count}) and --job-retry-seconds above 0 and at most 3600 (got {seconds}).");
        }

        var first = TimeSpan.FromSeconds(seconds);
        return new(count, first, TimeSpan.FromTicks(Math.Max(first.Ticks, TimeSpan.FromMinutes(2).Ticks)));
    }

    /// <summary>The connection string from <c>--db</c> or <c>TEMPME_DB</c>.</summary>
    internal static string ConnectionString(string? option)
    {
        var value = string.IsNullOrWhiteSpace(option) ? Environment.GetEnvironmentVariable(SiloOptions.DatabaseVariable) : option;
        if (string.IsNullOrWhiteSpace(value))
        {
            throw new UsageException($"--db is required: give a PostgreSQL connection string, or set {SiloOptions.DatabaseVariable}.");
        }

        return value;
    }
}

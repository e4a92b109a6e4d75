using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace TempMe.Pipeline.Cli.Commands;

/// <summary><c>tempme status [JOB] --silo URL [--json] [--watch]</c>: progress of distributed jobs.</summary>
internal static class StatusCommand
{
    // Not "finalizing": a job is finished only once its index.json and failures.jsonl are written.
    private static readonly string[] Terminal = ["completed", "completed_with_failures", "failed", "cancelled"];

    /// <summary>Creates the command.</summary>
    public static Command Create()
    {
        var job = new Argument<string?>("job") { Description = "A job id; all recent jobs when left out.", Arity = ArgumentArity.ZeroOrOne };
        var silo = new Option<string>("--silo") { Description = "The silo's URL.", DefaultValueFactory = _ => "http://127.0.0.1:8080" };
        var json = new Option<bool>("--json") { Description = "One JSON object per job (id, state, counts by video state, rate, ETA)." };
        var watch = new Option<bool>("--watch") { Description = "Refresh every 2 seconds until every job shown has finished (terminal state: its index.json and failures.jsonl are written)." };
        var command = new Command("status", "Show the progress of distributed jobs.") { job, silo, json, watch };

        CommandAction.Set(command, async (parse, cancellationToken) =>
        {
            using var http = SubmitCommand.Client(parse.GetValue(silo)!);
            var id = parse.GetValue(job);
            while (true)
            {
                List<JsonNode> jobs;
                try
                {
                    using var response = await http.GetAsync(id is null ? "api/jobs" : $"api/jobs/{Uri.EscapeDataString(id)}", cancellationToken);
                    var text = await response.Content.ReadAsStringAsync(cancellationToken);
                    if (!response.IsSuccessStatusCode)
                    {
                        await Console.Error.WriteLineAsync($"error: {(int)response.StatusCode}: {SubmitCommand.ProblemText(text)}");
                        return (int)response.StatusCode == 404 ? ExitCodes.BadArguments : ExitCodes.Failure;
                    }

                    var node = JsonNode.Parse(text);
                    jobs = node is JsonArray array ? array.Where(n => n is not null).Select(n => n!).ToList() : node is null ? [] : [node];
                }
                catch (HttpRequestException e)
                {
                    await Console.Error.WriteLineAsync($"error: cannot reach the silo at {http.BaseAddress}: {e.Message}");
                    return ExitCodes.Failure;
                }

                foreach (var item in jobs)
                {
                    Console.WriteLine(parse.GetValue(json) ? item.ToJsonString(new JsonSerializerOptions { WriteIndented = false, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }) : Line(item));
                }

                if (!parse.GetValue(watch) || jobs.All(j => IsTerminal(j["state"]?.GetValue<string>())))
                {
                    return ExitCodes.Ok;
                }

                await Task.Delay(TimeSpan.FromSeconds(2), cancellationToken);
            }
        });
        return command;
    }

    /// <summary>Whether a job state is final (completed, completed_with_failures, failed, cancelled).</summary>
    internal static bool IsTerminal(string? state) => Terminal.Contains(state);

    /// <summary>One line for a job: id, state, counts, rate, ETA, and its message when it has one.</summary>
    internal static string Line(JsonNode job)
    {
        var counts = job["counts"];
        long Count(string name) => counts?[name]?.GetValue<long>() ?? 0;
        var total = Count("total");
        var settled = Count("done") + Count("failed");
        var percent = total > 0 ? 100.0 * settled / total : 0;
        var eta = job["etaSeconds"]?.GetValue<double>() is { } seconds ? TimeSpan.FromSeconds(seconds).ToString(@"hh\:mm\:ss", CultureInfo.InvariantCulture) : "-";
        var message = job["message"]?.GetValue<string>() is { Length: > 0 } text ? "  message: " + text : "";
        return string.Create(CultureInfo.InvariantCulture,
            $"{job["id"]}  {job["state"],-24} {settled}/{total} ({percent:0.0}%)  done {Count("done")}  failed {Count("failed")}  pending {Count("pending")}  {job["videosPerSecond"]} videos/s  ETA {eta}{message}");
    }
}

using System.CommandLine;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace TempMe.Pipeline.Cli.Commands;

/// <summary>
/// <c>tempme submit SOURCE --out DEST --silo URL [--wait]</c>: asks a silo to index a corpus; prints the job id (and with
/// <c>--wait</c>, the final status line once the job is finished).
/// </summary>
internal static class SubmitCommand
{
    /// <summary>The environment variable holding the API token.</summary>
    internal const string TokenVariable = "TEMPME_API_TOKEN";

    /// <summary>Creates the command.</summary>
    public static Command Create()
    {
        var source = new Argument<string>("source") { Description = "A blob prefix (az://container/prefix, https://..., http://127.0.0.1:10000/account/container/prefix) or a folder under the silo's --allowed-roots." };
        var output = new Option<string>("--out") { Description = "Where the index goes (blob prefix or allowed local folder).", Required = true };
        var silo = new Option<string>("--silo") { Description = "The silo's URL.", DefaultValueFactory = _ => "http://127.0.0.1:8080" };
        var model = new Option<string?>("--model") { Description = "random:vit-b32, a model folder visible to every worker, or a blob prefix holding the checkpoint." };
        var frames = new Option<int?>("--frames") { Description = "Frames per video (default 12)." };
        var shardSize = new Option<int?>("--shard-size") { Description = "Videos per shard and part file (default 64)." };
        var maxAttempts = new Option<int?>("--max-attempts") { Description = "Attempts before a retryable failure is final (default 3)." };
        var wait = new Option<bool>("--wait") { Description = "Wait until the job is finished (index.json and failures.jsonl written) and print its counts; exit 0 when completed, 1 when completed_with_failures, failed or cancelled." };
        var command = new Command("submit", $"Submit a distributed indexing job to a silo (token from {TokenVariable}); prints the job id.")
        {
            source, output, silo, model, frames, shardSize, maxAttempts, wait,
        };

        CommandAction.Set(command, async (parse, cancellationToken) =>
        {
            var body = new JsonObject
            {
                ["source"] = parse.GetValue(source),
                ["output"] = parse.GetValue(output),
                ["model"] = parse.GetValue(model),
                ["frames"] = parse.GetValue(frames),
                ["shardSize"] = parse.GetValue(shardSize),
                ["maxAttempts"] = parse.GetValue(maxAttempts),
            };
            using var http = Client(parse.GetValue(silo)!);
            var token = Environment.GetEnvironmentVariable(TokenVariable);
            if (string.IsNullOrEmpty(token))
            {
                throw new UsageException($"{TokenVariable} is not set: export the silo's API token before submitting.");
            }

            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
            HttpResponseMessage response;
            try
            {
                response = await http.PostAsJsonAsync("api/jobs", body, cancellationToken);
            }
            catch (HttpRequestException e)
            {
                await Console.Error.WriteLineAsync($"error: cannot reach the silo at {http.BaseAddress}: {e.Message}");
                return ExitCodes.Failure;
            }

            using (response)
            {
                var text = await response.Content.ReadAsStringAsync(cancellationToken);
                if (!response.IsSuccessStatusCode)
                {
                    await Console.Error.WriteLineAsync($"error: the silo refused the job ({(int)response.StatusCode}): {ProblemText(text)}");
                    return (int)response.StatusCode == 400 ? ExitCodes.BadArguments : ExitCodes.Failure;
                }

                var id = JsonNode.Parse(text)?["id"]?.GetValue<string>() ?? throw new InvalidDataException("the silo answered without a job id");
                await Console.Error.WriteLineAsync($"submitted; follow it with: tempme status {id} --silo {http.BaseAddress}");
                Console.WriteLine(id);
                return parse.GetValue(wait) ? await WaitAsync(http, id, cancellationToken) : ExitCodes.Ok;
            }
        });
        return command;
    }

    /// <summary>
    /// Polls the job until it reaches a terminal state (never at <c>finalizing</c>: the output is whole only after it),
    /// printing progress to stderr and the final line to stdout. Rides out a silo restart of up to five minutes.
    /// </summary>
    private static async Task<int> WaitAsync(HttpClient http, string id, CancellationToken cancellationToken)
    {
        var poll = TimeSpan.FromSeconds(2);
        string? shown = null;
        var polls = 0;
        DateTimeOffset? unreachableSince = null;
        while (true)
        {
            JsonNode? job = null;
            try
            {
                using var response = await http.GetAsync($"api/jobs/{Uri.EscapeDataString(id)}", cancellationToken);
                var text = await response.Content.ReadAsStringAsync(cancellationToken);
                if (!response.IsSuccessStatusCode)
                {
                    await Console.Error.WriteLineAsync($"error: the silo answered {(int)response.StatusCode} for job {id}: {ProblemText(text)}");
                    return ExitCodes.Failure;
                }

                job = JsonNode.Parse(text);
                unreachableSince = null;
            }
            catch (Exception e) when (e is HttpRequestException || (e is TaskCanceledException && !cancellationToken.IsCancellationRequested))
            {
                unreachableSince ??= DateTimeOffset.UtcNow;
                if (DateTimeOffset.UtcNow - unreachableSince > TimeSpan.FromMinutes(5))
                {
                    await Console.Error.WriteLineAsync($"error: cannot reach the silo at {http.BaseAddress} for 5 minutes ({e.Message}); the job goes on: tempme status {id}");
                    return ExitCodes.Failure;
                }
            }

            if (job is not null)
            {
                var state = job["state"]?.GetValue<string>();
                if (StatusCommand.IsTerminal(state))
                {
                    Console.WriteLine(StatusCommand.Line(job));
                    return state == "completed" ? ExitCodes.Ok : ExitCodes.Failure;
                }

                if (state != shown || ++polls % 15 == 0)
                {
                    await Console.Error.WriteLineAsync(StatusCommand.Line(job));
                    shown = state;
                }
            }

            await Task.Delay(poll, cancellationToken);
        }
    }

    /// <summary>An HTTP client for the silo's API.</summary>
    internal static HttpClient Client(string silo)
    {
        if (!Uri.TryCreate(silo.EndsWith('/') ? silo : silo + "/", UriKind.Absolute, out var uri) || (uri.Scheme != "http" && uri.Scheme != "https"))
        {
            throw new UsageException($"--silo '{silo}' is not an http(s) URL (e.g. http://127.0.0.1:8080).");
        }

        return new HttpClient { BaseAddress = uri, Timeout = TimeSpan.FromSeconds(30) };
    }

    /// <summary>The detail of a problem-details answer, or the raw text.</summary>
    internal static string ProblemText(string text)
    {
        try
        {
            var node = JsonNode.Parse(text);
            return node?["detail"]?.GetValue<string>() ?? node?["title"]?.GetValue<string>() ?? text;
        }
        catch (JsonException)
        {
            return text;
        }
    }
}

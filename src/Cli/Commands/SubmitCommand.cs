using System.CommandLine;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace TempMe.Pipeline.Cli.Commands;

/// <summary><c>tempme submit SOURCE --out DEST --silo URL</c>: asks a silo to index a corpus; prints the job id as the last line.</summary>
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
        var command = new Command("submit", $"Submit a distributed indexing job to a silo (token from {TokenVariable}); prints the job id last.")
        {
            source, output, silo, model, frames, shardSize, maxAttempts,
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
                return ExitCodes.Ok;
            }
        });
        return command;
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

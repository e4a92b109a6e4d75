using System.Text;
using System.Text.Json;
using Npgsql;
using TempMe.Pipeline.Contracts;
using TempMe.Pipeline.Storage;
using TempMe.Pipeline.Storage.Internal;
using TempMe.Pipeline.Testing;

namespace TempMe.Pipeline.Distributed.Tests;

/// <summary>SAS signatures on a job's source, output and model reach the workers but no reader of the API, the output or the logs.</summary>
[Collection(DistributedCollection.Name)]
public sealed class SecretRedactionTests(DistributedFixture fixture)
{
    [Fact]
    public async Task A_job_whose_addresses_carry_a_sas_completes_and_the_signature_appears_in_no_answer_event_manifest_or_log()
    {
        // Always Azurite (also under TEMPME_DIST_STORAGE=local): a SAS is what is tested.
        var container = $"sas-{Guid.NewGuid():N}"[..24];
        var input = AzureBlobStore.FromConnectionString(fixture.BlobConnection, container, "in/");
        await BlobStoreFactory.EnsureExistsAsync(input, CancellationToken.None);
        foreach (var file in Directory.EnumerateFiles(fixture.Videos).Order(StringComparer.Ordinal).Take(3))
        {
            await using var stream = File.OpenRead(file);
            await input.WriteAsync(Path.GetFileName(file), stream, CancellationToken.None);
        }

        await Write(input, "broken.mp4", "this is not a video"u8.ToArray());
        await Write(AzureBlobStore.FromConnectionString(fixture.BlobConnection, container, "model/"), "model.safetensors", await TinyCheckpoint.BytesAsync());
        var output = AzureBlobStore.FromConnectionString(fixture.BlobConnection, container, "out/");

        var (account, key) = AccountOf(fixture.BlobConnection);
        var sas = SasBuilder.CreateContainerSas(account, key, container, "racwdl", DateTimeOffset.UtcNow.AddHours(2), DateTimeOffset.UtcNow.AddMinutes(-5));
        var signature = Uri.UnescapeDataString(sas.Split('&').Single(p => p.StartsWith("sig=", StringComparison.Ordinal))["sig=".Length..]);
        string[] forms = [signature, Uri.EscapeDataString(signature)];
        string Url(string prefix) => $"{DistributedFixture.BlobEndpoint.TrimEnd('/')}/{container}/{prefix}?{sas}";

        // No connection string anywhere: the silo and the worker can reach the container only with the job's SAS.
        var environment = new Dictionary<string, string?> { ["AZURE_STORAGE_CONNECTION_STRING"] = null, ["TEMPME_API_TOKEN"] = DistributedFixture.Token, ["TEMPME_DB"] = null };
        using var cluster = await fixture.StartClusterAsync(
            silo: (database, httpPort) => new TempmeProcess(["silo", "--db", database, "--urls", $"http://127.0.0.1:{httpPort}", "--lease-sweep-seconds", "1"], environment),
            worker: (database, workerId) => new TempmeProcess(["worker", "--db", database, "--lease-seconds", "6", "--heartbeat-seconds", "2", "--concurrency", "1", "--worker-id", workerId], environment));
        var (db, silo) = (cluster.Database, cluster.Silo);
        using var client = new SiloClient(cluster.Port);
        using var worker = cluster.AddWorker("sas-worker");
        using var events = new EventRecorder(client.Http.BaseAddress!);

        var id = await client.SubmitAsync(new { source = Url("in/"), output = Url("out/"), model = Url("model/"), frames = 12, shardSize = 2, maxAttempts = 1 });
        var job = await client.WaitForJobAsync(id, j => SiloClient.IsFinished(j) && j.GetProperty("manifestWritten").GetBoolean(), TimeSpan.FromSeconds(150), silo, worker);
        Assert.True(job.GetProperty("state").GetString() == "completed_with_failures", $"{job}\n{SiloClient.Dump([silo, worker])}");
        Assert.Equal(3, SiloClient.Count(job, "done"));
        Assert.Equal(1, SiloClient.Count(job, "failed"));
        await events.WaitForAsync($"\"{id}\"", TimeSpan.FromSeconds(10));

        // The job is shown with its addresses redacted, not hidden.
        var spec = job.GetProperty("spec");
        foreach (var field in new[] { "source", "output", "model" })
        {
            Assert.Contains($"/{container}/", spec.GetProperty(field).GetString(), StringComparison.Ordinal);
            Assert.Contains("sig=REDACTED", spec.GetProperty(field).GetString(), StringComparison.Ordinal);
        }

        var seen = new Dictionary<string, string>
        {
            ["GET /api/jobs"] = await client.Http.GetStringAsync("api/jobs"),
            ["GET /api/jobs/{id}"] = await client.Http.GetStringAsync($"api/jobs/{id}"),
            ["GET /api/dashboard"] = await client.Http.GetStringAsync("api/dashboard"),
            ["GET /api/jobs/{id}/failures"] = await client.Http.GetStringAsync($"api/jobs/{id}/failures"),
            ["GET /api/jobs/{id}/failures?format=jsonl"] = await client.Http.GetStringAsync($"api/jobs/{id}/failures?format=jsonl"),
            ["/api/events"] = events.Text,
            ["index.json"] = (await Read(output, "index.json"))!,
            ["failures.jsonl"] = (await Read(output, "failures.jsonl"))!,
            ["embeddings/part-00000.jsonl"] = (await Read(output, "embeddings/part-00000.jsonl"))!,
            ["the jobs table"] = await JobRowsAsync(db),
        };
        Assert.Contains("broken.mp4", seen["failures.jsonl"], StringComparison.Ordinal);
        Assert.Contains("sig=REDACTED", JsonDocument.Parse(seen["index.json"]).RootElement.GetProperty("model").GetProperty("spec").GetString(), StringComparison.Ordinal);
        Assert.Contains(id, seen["/api/events"], StringComparison.Ordinal);
        Assert.Equal(0, await worker.TerminateAsync(TimeSpan.FromSeconds(20)));
        Assert.Equal(0, await silo.TerminateAsync(TimeSpan.FromSeconds(20)));
        seen["silo stdout/stderr"] = silo.Output;
        seen["worker stdout/stderr"] = worker.Output;
        foreach (var (where, text) in seen)
        {
            foreach (var form in forms)
            {
                Assert.False(text.Contains(form, StringComparison.Ordinal), $"{where} shows the SAS signature:\n{text}");
            }
        }

        // The secret is kept, apart, for the workers.
        await using var conn = new NpgsqlConnection(db);
        await conn.OpenAsync();
        await using var secrets = new NpgsqlCommand("SELECT count(*) FROM job_secrets WHERE job_id = $1", conn) { Parameters = { new() { Value = id } } };
        Assert.Equal(3L, (long)(await secrets.ExecuteScalarAsync())!);
    }

    private static async Task Write(IBlobStore store, string name, byte[] bytes)
    {
        using var stream = new MemoryStream(bytes);
        await store.WriteAsync(name, stream, CancellationToken.None);
    }

    private static async Task<string> Read(IBlobStore store, string name)
    {
        await using var stream = await store.OpenReadAsync(name, CancellationToken.None);
        using var reader = new StreamReader(stream);
        return await reader.ReadToEndAsync();
    }

    private static async Task<string> JobRowsAsync(string db)
    {
        await using var conn = new NpgsqlConnection(db);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand("SELECT coalesce(string_agg(concat_ws(' ', spec::text, source, output, model, message), E'\\n'), '') FROM jobs", conn);
        return (string)(await cmd.ExecuteScalarAsync())!;
    }

    private static (string Account, byte[] Key) AccountOf(string connectionString)
    {
        var parts = connectionString.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(p => p.Split('=', 2)).Where(p => p.Length == 2).ToDictionary(p => p[0], p => p[1], StringComparer.OrdinalIgnoreCase);
        return (parts["AccountName"], Convert.FromBase64String(parts["AccountKey"]));
    }

    /// <summary>Reads <c>/api/events</c> in the background and keeps everything it received.</summary>
    private sealed class EventRecorder : IDisposable
    {
        private readonly CancellationTokenSource _stop = new();
        private readonly StringBuilder _text = new();
        private readonly HttpClient _http;
        private readonly Task _reader;

        public EventRecorder(Uri silo)
        {
            _http = new HttpClient { BaseAddress = silo, Timeout = Timeout.InfiniteTimeSpan };
            _reader = ReadAsync(_http);
        }

        public string Text
        {
            get
            {
                lock (_text)
                {
                    return _text.ToString();
                }
            }
        }

        public async Task WaitForAsync(string fragment, TimeSpan timeout)
        {
            var deadline = DateTime.UtcNow + timeout;
            while (!Text.Contains(fragment, StringComparison.Ordinal))
            {
                Assert.True(DateTime.UtcNow < deadline, $"no server-sent event mentioned {fragment}; received:\n{Text}");
                await Task.Delay(200);
            }
        }

        public void Dispose()
        {
            _stop.Cancel();
            try
            {
                _reader.Wait(TimeSpan.FromSeconds(5));
            }
            catch (AggregateException)
            {
            }

            _stop.Dispose();
            _http.Dispose();
        }

        private async Task ReadAsync(HttpClient http)
        {
            try
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, "api/events");
                using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, _stop.Token);
                await using var stream = await response.Content.ReadAsStreamAsync(_stop.Token);
                using var reader = new StreamReader(stream);
                while (await reader.ReadLineAsync(_stop.Token) is { } line)
                {
                    lock (_text)
                    {
                        _text.Append(line).Append('\n');
                    }
                }
            }
            catch (Exception e) when (e is OperationCanceledException or HttpRequestException or IOException)
            {
            }
        }
    }
}

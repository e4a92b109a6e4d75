using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using TempMe.Pipeline.Testing;
using TempMe.Pipeline.Testing.Cluster;

namespace TempMe.Pipeline.Distributed.Tests;

/// <summary>Talks to a silo's HTTP API, with waits that carry the processes' output when they time out.</summary>
public sealed class SiloClient(int port) : IDisposable
{
    private readonly HttpClient _http = new() { BaseAddress = new Uri($"http://127.0.0.1:{port}/"), Timeout = TimeSpan.FromSeconds(10) };

    public HttpClient Http => _http;

    public async Task<string> SubmitAsync(object body)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "api/jobs") { Content = JsonContent.Create(body) };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", DistributedFixture.Token);
        using var response = await _http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == System.Net.HttpStatusCode.Accepted, $"submit answered {(int)response.StatusCode}: {text}");
        return JsonDocument.Parse(text).RootElement.GetProperty("id").GetString()!;
    }

    /// <summary>POSTs an empty JSON body with the test token; returns the status code and the body.</summary>
    public async Task<(System.Net.HttpStatusCode Status, string Body)> PostAsync(string path)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = JsonContent.Create(new { }) };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", DistributedFixture.Token);
        using var response = await _http.SendAsync(request);
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    public async Task<JsonElement?> TryGetJobAsync(string id)
    {
        try
        {
            using var response = await _http.GetAsync($"api/jobs/{id}");
            if (!response.IsSuccessStatusCode)
            {
                return null;
            }

            return JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone();
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            return null;
        }
    }

    /// <summary>Polls the job until <paramref name="done"/> holds; fails with the last answer and every process's output.</summary>
    public async Task<JsonElement> WaitForJobAsync(string id, Func<JsonElement, bool> done, TimeSpan timeout, params TempmeProcess[] processes)
    {
        var deadline = DateTime.UtcNow + timeout;
        JsonElement? last = null;
        while (DateTime.UtcNow < deadline)
        {
            last = await TryGetJobAsync(id) ?? last;
            if (last is { } job && done(job))
            {
                return job;
            }

            await Task.Delay(250);
        }

        throw new TimeoutException($"job {id} did not reach the expected state within {timeout}; last answer: {last}\n{Dump(processes)}");
    }

    public static bool IsFinished(JsonElement job) => job.GetProperty("state").GetString() is "completed" or "completed_with_failures" or "failed" or "cancelled";

    public static long Count(JsonElement job, string name) => job.GetProperty("counts").GetProperty(name).GetInt64();

    public static string Dump(IEnumerable<TempmeProcess> processes) => TestCluster.Dump(processes);

    public void Dispose() => _http.Dispose();
}

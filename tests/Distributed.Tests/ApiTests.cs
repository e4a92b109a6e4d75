using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;

namespace TempMe.Pipeline.Distributed.Tests;

/// <summary>The silo's HTTP API: validation, authentication and readiness.</summary>
[Collection(DistributedCollection.Name)]
public sealed class ApiTests(DistributedFixture fixture)
{
    [Fact]
    public async Task The_Orleans_dashboard_is_served_under_orleans_read_only_and_our_dashboard_stays_at_the_root()
    {
        using var cluster = await fixture.StartClusterAsync();
        var port = cluster.Port;
        using var client = new SiloClient(port);

        using (var page = await client.Http.GetAsync("orleans"))
        {
            Assert.Equal(HttpStatusCode.OK, page.StatusCode);
            Assert.Equal("text/html", page.Content.Headers.ContentType?.MediaType);
        }

        using (var root = await client.Http.GetAsync("/"))
        {
            Assert.Equal(HttpStatusCode.OK, root.StatusCode);
            Assert.Contains("TempMe", await root.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        // Read-only without the token, and with it: the job API is the one place changes are made.
        foreach (var token in new[] { null, DistributedFixture.Token })
        {
            using var write = await Post(client, "orleans/anything", new { }, token);
            Assert.Equal(HttpStatusCode.MethodNotAllowed, write.StatusCode);
            Assert.Equal("application/problem+json", write.Content.Headers.ContentType?.MediaType);
        }
    }

    [Fact]
    public async Task Bad_requests_get_problem_details_naming_the_field_and_changes_need_the_token()
    {
        using var cluster = await fixture.StartClusterAsync();
        var (db, port, silo) = (cluster.Database, cluster.Port, cluster.Silo);
        using var client = new SiloClient(port);
        var good = new { source = DistributedFixture.Address("somecontainer", "in"), output = DistributedFixture.Address("somecontainer", "out"), model = "random:vit-b32" };

        using (var response = await client.Http.PostAsJsonAsync("api/jobs", good))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        }

        using (var response = await Post(client, "api/jobs", good, "wrong-token"))
        {
            Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        }

        await AssertInvalidAsync(client, new { source = good.source, output = good.output }, "model");
        await AssertInvalidAsync(client, new { source = good.source, output = good.output, model = "random:vit-b32", shardSize = "many" }, "shardSize");
        await AssertInvalidAsync(client, new { source = good.source, output = good.output, model = "random:vit-b32", frames = -1 }, "frames");
        await AssertInvalidAsync(client, new { source = "/etc", output = good.output, model = "random:vit-b32" }, "source");
        await AssertInvalidAsync(client, new { source = good.source, output = "ftp://nowhere/x", model = "random:vit-b32" }, "output");
        using (var response = await Post(client, "api/jobs", "not json at all", DistributedFixture.Token))
        {
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        }

        using (var response = await Post(client, "api/jobs/no-such-job/cancel", new { }, DistributedFixture.Token))
        {
            Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        }

        if (DistributedFixture.UseLocalStorage)
        {
            Directory.CreateDirectory(good.source);
        }

        var id = await client.SubmitAsync(good);
        var listed = JsonDocument.Parse(await client.Http.GetStringAsync("api/jobs")).RootElement;
        Assert.Contains(listed.EnumerateArray(), j => j.GetProperty("id").GetString() == id);
        Assert.DoesNotContain("AccountKey", silo.Output, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain(db, silo.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_silo_without_a_token_refuses_changes_and_says_how_to_set_one()
    {
        using var cluster = await fixture.StartClusterAsync(silo: (database, httpPort) => fixture.StartSilo(database, httpPort, withToken: false));
        var port = cluster.Port;
        using var client = new SiloClient(port);
        using var response = await Post(client, "api/jobs", new { source = "x", output = "y", model = "z" }, "anything");
        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Contains("TEMPME_API_TOKEN", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Readyz_is_503_while_postgres_is_down_and_200_after()
    {
        using var cluster = await fixture.StartClusterAsync();
        using var client = new SiloClient(cluster.Port);
        fixture.StopPostgres();
        try
        {
            using var down = await client.Http.GetAsync("readyz");
            Assert.Equal(HttpStatusCode.ServiceUnavailable, down.StatusCode);
            using var alive = await client.Http.GetAsync("healthz");
            Assert.Equal(HttpStatusCode.OK, alive.StatusCode);
        }
        finally
        {
            fixture.StartPostgres();
        }

        await cluster.WaitReadyAsync(cluster.Port, TimeSpan.FromSeconds(15));
        using var up = await client.Http.GetAsync("readyz");
        Assert.Equal(HttpStatusCode.OK, up.StatusCode);
    }

    [Fact]
    public async Task A_silo_that_cannot_reach_postgres_exits_non_zero_with_a_clear_error()
    {
        using var silo = fixture.Start(["silo", "--db", "Host=127.0.0.1;Port=1;Username=nobody;Password=hunter2;Database=x", "--urls", $"http://127.0.0.1:{DistributedFixture.FreePort()}"]);
        var code = await silo.WaitAsync(TimeSpan.FromSeconds(60));
        Assert.NotEqual(0, code);
        Assert.Contains("cannot reach PostgreSQL", silo.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("hunter2", silo.Output, StringComparison.Ordinal);
    }

    private static async Task AssertInvalidAsync(SiloClient client, object body, string field)
    {
        using var response = await Post(client, "api/jobs", body, DistributedFixture.Token);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"expected 400 for {field}, got {(int)response.StatusCode}: {text}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var errors = JsonDocument.Parse(text).RootElement.GetProperty("errors");
        Assert.True(errors.TryGetProperty(field, out _), $"the problem does not name {field}: {text}");
    }

    private static Task<HttpResponseMessage> Post(SiloClient client, string path, object body, string? token)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, path)
        {
            Content = body is string raw ? new StringContent(raw, System.Text.Encoding.UTF8, "application/json") : JsonContent.Create(body),
        };
        if (token is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        return client.Http.SendAsync(request);
    }
}

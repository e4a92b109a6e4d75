using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Playwright;
using TempMe.Pipeline.Testing;
using Xunit.Abstractions;
using TempMe.Pipeline.Testing.Cluster;

namespace TempMe.Pipeline.Dashboard.Tests;

[Collection(DashboardCollection.Name)]
public sealed class DashboardTests(DashboardFixture fixture, ITestOutputHelper output)
{
    private static readonly string[] ChromiumArgs = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"];

    [Fact]
    public async Task Dashboard_follows_a_job_to_100_percent_live_shows_its_failures_and_exports_metrics()
    {
        var workerPort = DashboardFixture.FreePort();
        using var cluster = fixture.NewCluster(worker: (database, workerId) => DashboardFixture.StartWorker(database, workerId, workerPort));
        var silo = await cluster.AddSiloAsync(readyTimeout: TimeSpan.FromSeconds(60));
        using var http = new HttpClient { BaseAddress = new Uri(cluster.Url + "/"), Timeout = TimeSpan.FromSeconds(10) };
        var worker = cluster.AddWorker("dash-worker-1");
        await TestCluster.WaitStatusAsync(http, $"http://127.0.0.1:{workerPort}/readyz", HttpStatusCode.OK, TimeSpan.FromSeconds(60), cluster.Processes);

        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = DashboardFixture.ChromiumPath, Args = ChromiumArgs, Headless = true,
        });
        var page = await browser.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 1280, Height = 860 } });
        var violations = await WatchCspViolationsAsync(page);
        var opened = await page.GotoAsync(http.BaseAddress!.ToString());
        AssertSecurityHeaders(opened!.Headers);
        await page.WaitForSelectorAsync("#live.on", new PageWaitForSelectorOptions { Timeout = 15_000 });
        await page.EvaluateAsync("() => { window.__sameDocument = 'yes'; }");

        // Submit after the page is open: everything it shows from now on arrives by server-sent events.
        using var submit = new HttpRequestMessage(HttpMethod.Post, "api/jobs")
        {
            Content = JsonContent.Create(new { source = fixture.Videos, output = Path.Combine(fixture.Root, "out"), model = "random:vit-b32", frames = 12, shardSize = 3 }),
        };
        submit.Headers.Authorization = new AuthenticationHeaderValue("Bearer", DashboardFixture.Token);
        using var submitted = await http.SendAsync(submit);
        Assert.True(submitted.StatusCode == HttpStatusCode.Accepted, await submitted.Content.ReadAsStringAsync());
        var id = JsonDocument.Parse(await submitted.Content.ReadAsStringAsync()).RootElement.GetProperty("id").GetString()!;

        var percent = page.Locator($".job[data-job-id=\"{id}\"] .pct");
        var seen = new List<string>();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(120);
        while (true)
        {
            var text = await percent.CountAsync() > 0 ? await percent.InnerTextAsync() : "(absent)";
            if (seen.Count == 0 || seen[^1] != text)
            {
                seen.Add(text);
            }

            if (text == "100%")
            {
                break;
            }

            Assert.True(DateTime.UtcNow < deadline, $"the page never reached 100% (saw {string.Join(" → ", seen)})\n{TestCluster.Dump([silo, worker])}");
            await Task.Delay(150);
        }

        output.WriteLine($"progress seen on the page: {string.Join(" → ", seen)}");
        Assert.Contains(seen, s => s != "100%" && s != "(absent)");
        Assert.Equal("yes", await page.EvaluateAsync<string>("() => window.__sameDocument"));
        await page.WaitForSelectorAsync($".job[data-job-id=\"{id}\"] .state.completed_with_failures");
        await page.WaitForSelectorAsync("[data-worker-id=\"dash-worker-1\"]");
        await Shot(page, "dashboard-overview-desktop.png");

        // The bars are drawn under the policy (widths through the CSSOM, colours from the stylesheet).
        var doneWidth = await page.EvalOnSelectorAsync<double>($".job[data-job-id=\"{id}\"] .bar .done", "el => el.getBoundingClientRect().width");
        var barWidth = await page.EvalOnSelectorAsync<double>($".job[data-job-id=\"{id}\"] .bar", "el => el.getBoundingClientRect().width");
        Assert.InRange(doneWidth / barWidth, 0.8, 0.95);
        Assert.NotEqual("rgba(0, 0, 0, 0)", await page.EvalOnSelectorAsync<string>(".legend i.failed", "el => getComputedStyle(el).backgroundColor"));

        // Job detail: most frequent errors with an example, the failure list, the JSONL link.
        await page.ClickAsync($".job[data-job-id=\"{id}\"] a.job-id");
        await page.WaitForSelectorAsync("#top-errors >> text=not_a_video");
        await page.WaitForSelectorAsync("#failures >> text=broken.mp4");
        var href = await page.GetAttributeAsync("#download-failures", "href");
        Assert.Equal($"api/jobs/{id}/failures?format=jsonl", href);
        var jsonl = await http.GetStringAsync(href);
        var line = Assert.Single(jsonl.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Equal("not_a_video", JsonDocument.Parse(line).RootElement.GetProperty("error_code").GetString());
        Assert.EndsWith("broken.mp4", JsonDocument.Parse(line).RootElement.GetProperty("source").GetString(), StringComparison.Ordinal);
        await Shot(page, "dashboard-job-desktop.png");

        // Search: type a query, see the ranked results (8 videos were indexed) with scores, sources and timestamps.
        await page.FillAsync("#search-q", "a man is cooking pasta");
        await page.PressAsync("#search-q", "Enter");
        await page.WaitForSelectorAsync("#search-results tbody tr", new PageWaitForSelectorOptions { Timeout = 60_000 });
        var results = page.Locator("#search-results tbody tr");
        Assert.Equal(8, await results.CountAsync());
        Assert.Equal("1", await results.Nth(0).Locator("td").Nth(1).InnerTextAsync());
        Assert.EndsWith(".mp4", await results.Nth(0).Locator("td").Nth(3).InnerTextAsync(), StringComparison.Ordinal);
        var shownScores = new List<double>();
        for (var i = 0; i < 8; i++)
        {
            shownScores.Add(double.Parse(await results.Nth(i).Locator("td").Nth(2).InnerTextAsync(), System.Globalization.CultureInfo.InvariantCulture));
        }

        // Each result shows its thumbnail, loaded (decoded by the browser), with the source as its alt text; the
        // page's redraws every second keep the same images instead of loading them again.
        await page.WaitForFunctionAsync(
            "() => { const imgs = [...document.querySelectorAll('#search-results tbody td.thumb img')]; return imgs.length === 8 && imgs.every(i => i.complete && i.naturalWidth > 0); }",
            null, new PageWaitForFunctionOptions { Timeout = 30_000 });
        for (var i = 0; i < 8; i++)
        {
            var image = results.Nth(i).Locator("td.thumb img");
            Assert.Equal(await results.Nth(i).Locator("td").Nth(3).InnerTextAsync(), await image.GetAttributeAsync("alt"));
            Assert.Equal(160, await image.EvaluateAsync<int>("img => img.naturalWidth"));
        }

        await page.EvaluateAsync("() => { window.__firstThumb = document.querySelector('#search-results td.thumb img'); window.__form = document.getElementById('search-form'); }");
        await page.WaitForFunctionAsync("() => document.getElementById('search-form') !== window.__form"); // the next snapshot redrew the page
        Assert.True(await page.EvaluateAsync<bool>("() => document.querySelector('#search-results td.thumb img') === window.__firstThumb"), "a redraw replaced the thumbnails");

        Assert.Equal(shownScores.OrderByDescending(x => x).ToList(), shownScores);
        Assert.Equal("a man is cooking pasta", await page.InputValueAsync("#search-q"));
        await Shot(page, "dashboard-job-search-desktop.png");

        // Retry failed: the page asks for the token, keeps it in sessionStorage and sends it as a bearer token.
        await page.ClickAsync("button[data-action=retry-failed]");
        await page.WaitForSelectorAsync("#token-dialog[open]");
        await page.FillAsync("#token-input", DashboardFixture.Token);
        await page.ClickAsync("#token-save");
        await page.WaitForSelectorAsync("#toast >> text=Requeued 1 failed video(s).");
        Assert.Equal(DashboardFixture.Token, await page.EvaluateAsync<string>("() => sessionStorage.getItem('tempme.apiToken')"));
        await page.WaitForSelectorAsync($"#job-detail .state.completed_with_failures", new PageWaitForSelectorOptions { Timeout = 60_000 });
        Assert.True(violations.Count == 0, "the page broke its own Content-Security-Policy: " + string.Join(" | ", violations));

        // Phone width.
        var phone = await browser.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 390, Height = 844 }, IsMobile = true, HasTouch = true, DeviceScaleFactor = 2 });
        await phone.GotoAsync(http.BaseAddress + "#/");
        await phone.WaitForSelectorAsync($".job[data-job-id=\"{id}\"] .pct >> text=100%");
        Assert.True(await phone.EvaluateAsync<bool>("() => document.documentElement.scrollWidth <= window.innerWidth"), "the overview scrolls sideways at 390 px");
        await Shot(phone, "dashboard-overview-phone.png");
        await phone.GotoAsync(http.BaseAddress + $"#/jobs/{id}");
        await phone.WaitForSelectorAsync("#failures >> text=broken.mp4");
        Assert.True(await phone.EvaluateAsync<bool>("() => document.documentElement.scrollWidth <= window.innerWidth"), "the job page scrolls sideways at 390 px");
        await Shot(phone, "dashboard-job-phone.png");

        // Metrics: the worker's counters and histograms, the silo's queue gauges.
        var workerText = await http.GetStringAsync($"http://127.0.0.1:{workerPort}/metrics");
        var (lintExit, lint) = PrometheusServer.CheckMetrics(workerText);
        Assert.True(lintExit == 0 && lint.Trim().Length == 0, $"promtool check metrics failed on the worker's /metrics after a job (exit {lintExit}):\n{lint}");
        var workerMetrics = PrometheusText.Parse(workerText);
        Assert.Equal(8, workerMetrics.Sum("tempme_videos_done_total"));
        var failed = Assert.Single(workerMetrics.Named("tempme_videos_failed_total"), s => s.Labels.GetValueOrDefault("error_code") == "not_a_video");
        Assert.True(failed.Value >= 1);
        foreach (var histogram in new[] { "tempme_decode_seconds", "tempme_encode_seconds", "tempme_upload_seconds" })
        {
            Assert.Equal("histogram", workerMetrics.Types[histogram]);
            Assert.True(workerMetrics.Sum(histogram + "_count") > 0, $"{histogram} has no observations");
        }

        var siloMetrics = PrometheusText.Parse(await http.GetStringAsync("metrics"));
        Assert.Equal("gauge", siloMetrics.Types["tempme_queue_depth"]);
        Assert.Equal(0, Assert.Single(siloMetrics.Named("tempme_queue_depth")).Value);
        foreach (var gauge in new[] { "tempme_active_leases", "tempme_lease_expirations", "tempme_retries" })
        {
            Assert.Equal("gauge", siloMetrics.Types[gauge]);
        }

        Assert.Equal(9, siloMetrics.Sum("tempme_ledger_videos_done_total") + siloMetrics.Sum("tempme_ledger_videos_failed_total"));
    }

    [Fact]
    public async Task Worker_readyz_is_503_while_postgres_is_down_and_200_after()
    {
        var port = DashboardFixture.FreePort();
        using var cluster = fixture.NewCluster(worker: (database, workerId) => DashboardFixture.StartWorker(database, workerId, port));
        var worker = cluster.AddWorker("dash-ready");
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/"), Timeout = TimeSpan.FromSeconds(10) };
        await TestCluster.WaitStatusAsync(http, "readyz", HttpStatusCode.OK, TimeSpan.FromSeconds(60), worker);
        Assert.Equal("ok", await http.GetStringAsync("healthz"));
        fixture.StopPostgres();
        try
        {
            await TestCluster.WaitStatusAsync(http, "readyz", HttpStatusCode.ServiceUnavailable, TimeSpan.FromSeconds(30), worker);
            Assert.Equal("ok", await http.GetStringAsync("healthz"));
            PrometheusText.Parse(await http.GetStringAsync("metrics"));
        }
        finally
        {
            fixture.StartPostgres();
        }

        await TestCluster.WaitStatusAsync(http, "readyz", HttpStatusCode.OK, TimeSpan.FromSeconds(30), worker);
        Assert.False(worker.HasExited, worker.Output);
    }

    [Fact]
    public async Task Index_dashboard_serves_the_same_page_and_snapshot_shape_for_its_run()
    {
        var output = Path.Combine(fixture.Root, $"index-out-{Guid.NewGuid():N}");
        var port = DashboardFixture.FreePort();
        using var index = new TempmeProcess(
            ["index", fixture.Videos, "--out", output, "--model", "random:vit-b32", "--decoders", "1", "--batch", "1", "--shard-size", "3", "--dashboard", $"127.0.0.1:{port}"],
            new Dictionary<string, string?>());
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/"), Timeout = TimeSpan.FromSeconds(5) };
        JsonElement? snapshot = null;
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        string page = "";
        string metrics = "";
        while (snapshot is null && DateTime.UtcNow < deadline && !index.HasExited)
        {
            try
            {
                var text = await http.GetStringAsync("api/dashboard");
                var root = JsonDocument.Parse(text).RootElement.Clone();
                if (root.GetProperty("jobs")[0].GetProperty("total").GetInt64() > 0)
                {
                    snapshot = root;
                    page = await http.GetStringAsync("/");
                    metrics = await http.GetStringAsync("metrics");
                }
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
            }

            await Task.Delay(100);
        }

        Assert.True(snapshot is not null, $"no snapshot from the index dashboard\n{index.Output}");
        var s = snapshot!.Value;
        Assert.Equal("index", s.GetProperty("mode").GetString());
        var job = s.GetProperty("jobs")[0];
        Assert.Equal("local", job.GetProperty("id").GetString());
        Assert.Equal(9, job.GetProperty("total").GetInt64());
        foreach (var field in new[] { "done", "failed", "running", "queued", "videosPerSecond", "etaSeconds", "topErrors", "rate" })
        {
            Assert.True(job.TryGetProperty(field, out _), $"job lacks {field}");
        }

        Assert.True(s.GetProperty("workers")[0].GetProperty("split").TryGetProperty("encode", out _));
        Assert.Contains("dashboard.js", page, StringComparison.Ordinal);
        using (var root = await http.GetAsync("/"))
        {
            AssertSecurityHeaders(root.Headers.ToDictionary(h => h.Key.ToLowerInvariant(), h => string.Join(", ", h.Value)));
        }

        PrometheusText.Parse(metrics);

        // The search endpoint checks its request before anything else: problem details, whatever the run's phase.
        foreach (var (query, status) in new[]
        {
            ("local/search?q=", HttpStatusCode.BadRequest), ("local/search?q=pasta&k=0", HttpStatusCode.BadRequest), ("other/search?q=pasta", HttpStatusCode.NotFound),
            ("local/thumbnails/..%2F..%2Findex.json", HttpStatusCode.BadRequest), ("local/thumbnails/..%2Findex.json", HttpStatusCode.BadRequest),
            ($"local/thumbnails/{new string('f', 63)}.jpg", HttpStatusCode.BadRequest), ($"other/thumbnails/{new string('f', 64)}.jpg", HttpStatusCode.NotFound),
            ($"local/thumbnails/{new string('f', 64)}.jpg", HttpStatusCode.NotFound),
        })
        {
            using var answer = await http.GetAsync("api/jobs/" + query);
            Assert.Equal(status, answer.StatusCode);
            Assert.Equal("application/problem+json", answer.Content.Headers.ContentType?.MediaType);
        }

        Assert.Equal(0, await index.WaitAsync(TimeSpan.FromSeconds(90)));

        // What the run wrote is what its dashboard served: one thumbnail per content beside the parts.
        Assert.NotEmpty(Directory.GetFiles(Path.Combine(output, "thumbnails"), "*.jpg", SearchOption.AllDirectories));
    }

    /// <summary>CSP violations the page reports (securitypolicyviolation events and console errors), from the first script on.</summary>
    private static async Task<List<string>> WatchCspViolationsAsync(IPage page)
    {
        var violations = new List<string>();
        page.Console += (_, message) =>
        {
            if (message.Text.Contains("Content Security Policy", StringComparison.OrdinalIgnoreCase))
            {
                lock (violations)
                {
                    violations.Add(message.Text);
                }
            }
        };
        await page.ExposeFunctionAsync("__reportCsp", (string text) =>
        {
            lock (violations)
            {
                violations.Add(text);
            }
        });
        await page.AddInitScriptAsync("document.addEventListener('securitypolicyviolation', e => window.__reportCsp(e.violatedDirective + ' ' + e.blockedURI + ' ' + (e.sample || '')));");
        return violations;
    }

    private static void AssertSecurityHeaders(IReadOnlyDictionary<string, string> headers)
    {
        Assert.True(headers.TryGetValue("content-security-policy", out var csp), "no Content-Security-Policy header");
        foreach (var directive in new[] { "default-src 'none'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'" })
        {
            Assert.Contains(directive, csp, StringComparison.Ordinal);
        }

        Assert.DoesNotContain("unsafe-inline", csp, StringComparison.Ordinal);
        Assert.Equal("DENY", headers.GetValueOrDefault("x-frame-options"));
        Assert.Equal("nosniff", headers.GetValueOrDefault("x-content-type-options"));
    }

    private async Task Shot(IPage page, string name)
    {
        var path = Path.Combine(fixture.Artifacts, name);
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = path, FullPage = true });
        output.WriteLine($"screenshot: {path}");
        Console.WriteLine($"screenshot: {path}");
    }
}

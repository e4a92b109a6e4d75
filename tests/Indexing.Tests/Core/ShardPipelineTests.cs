using System.Text;
using TempMe.Pipeline.Contracts;
using TempMe.Pipeline.Indexing.Tests.Fakes;

namespace TempMe.Pipeline.Indexing.Tests.Core;

/// <summary>
/// The shard pipeline on its own, against in-memory fakes of the ledger, fetcher, sampler, encoder and store (the real
/// ones are covered by their own tests and the end-to-end ones): each fact runs in milliseconds and provokes on demand
/// what the real parts only do by chance, such as a lost lease, a failing encoder or a stalled encoder.
/// </summary>
public sealed class ShardPipelineTests : FakePipelineParts
{
    private InMemoryShardLedger Ledger(int shardSize, params string[] sources)
    {
        foreach (var (source, i) in sources.Select((s, i) => (s, i)))
        {
            Fetcher.Add(source, (byte)(i + 1), 7); // distinct contents
        }

        return InMemoryShardLedger.Create(sources, shardSize);
    }

    private static string[] Sources(int count) => Enumerable.Range(0, count).Select(i => $"/v/{i:D3}").ToArray();

    /// <summary>The part files written (embeddings/), leaving out thumbnails.</summary>
    private List<string> Parts() => Store.Blobs.Keys.Where(k => k.StartsWith("embeddings/", StringComparison.Ordinal)).ToList();

    private string Jsonl(int part) => Encoding.UTF8.GetString(Store.Blobs[$"embeddings/part-{part:D5}.jsonl"]);

    [Fact]
    public async Task Every_video_is_encoded_once_recorded_and_its_shard_completed_with_a_part()
    {
        var ledger = Ledger(2, Sources(5));
        var pipeline = Pipeline(ledger);

        await pipeline.RunAsync(default).WaitAsync(Guard);

        Assert.Equal(5, Encoder.Encoded);
        Assert.Equal(3, ledger.Completions.Count);
        Assert.All(Sources(5), s => Assert.Equal((VideoState.Done, 1), (ledger.VideoOf(s).State, ledger.VideoOf(s).Attempts)));
        Assert.Equal(3, Store.Blobs.Keys.Count(k => k.EndsWith(".npy", StringComparison.Ordinal)));
        Assert.Contains("\"source\":\"/v/004\"", Jsonl(2), StringComparison.Ordinal);
        Assert.Equal((5, 0), (pipeline.Counters.Done, pipeline.Counters.Failed));
    }

    [Fact]
    public async Task Copies_of_one_content_in_flight_share_one_encode()
    {
        Fetcher.Add("/v/a", 42, 1);
        Fetcher.Add("/v/b", 42, 1); // the same bytes as /v/a
        Fetcher.Add("/v/c", 9, 9);
        var ledger = InMemoryShardLedger.Create(["/v/a", "/v/b", "/v/c"], shardSize: 3);
        var cFetched = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Fetcher.AfterFetch = source =>
        {
            if (source == "/v/c")
            {
                cFetched.TrySetResult();
            }
        };

        // The first copy's decode waits until /v/c is fetched. With two decoders, /v/c can only be fetched by the decoder
        // that took the second copy, once that copy found the first one in flight and left it to share its encode.
        Sampler.Gate = (call, _, ct) => call == 1 ? cFetched.Task.WaitAsync(Guard, ct) : Task.CompletedTask;

        await Pipeline(ledger).RunAsync(default).WaitAsync(Guard);

        Assert.Equal(2, Encoder.Encoded);
        Assert.Equal(2, Sampler.Calls);
        var results = Assert.Single(ledger.Completions).Results;
        Assert.All(results, r => Assert.True(r.Succeeded));
        Assert.Equal(results[0].Embedding!.Vector, results[1].Embedding!.Vector);
        Assert.Equal(results[0].ContentSha256, results[1].ContentSha256);
        Assert.Single(results.Take(2), r => r.Reused);
        Assert.NotEqual(results[0].Embedding!.Vector, results[2].Embedding!.Vector);
    }

    [Fact]
    public async Task Cancellation_hands_every_unfinished_shard_back_and_completes_none()
    {
        var ledger = Ledger(2, Sources(4));
        var bothDecoding = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Sampler.Gate = async (call, _, ct) =>
        {
            if (call == 2)
            {
                bothDecoding.TrySetResult();
            }

            await Task.Delay(Timeout.Infinite, ct); // a decode that only cancellation ends
        };
        using var cancel = new CancellationTokenSource();
        var run = Pipeline(ledger).RunAsync(cancel.Token);

        await bothDecoding.Task.WaitAsync(Guard);
        await cancel.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => run.WaitAsync(Guard));
        Assert.Equal([0L, 1L], ledger.Released.Order());
        Assert.Empty(ledger.Completions);
        Assert.Empty(Store.Blobs);
        Assert.NotNull(await ledger.ClaimShardAsync("another", TimeSpan.FromMinutes(5), default)); // free at once
    }

    [Fact]
    public async Task A_lost_lease_stops_the_shard_without_writing_its_part_or_completing_it()
    {
        var ledger = Ledger(3, Sources(3));
        Sampler.Gate = async (call, _, ct) =>
        {
            if (call == 1)
            {
                // While the first video decodes, the lease runs out and another worker claims the shard.
                ledger.TakeOver(0);
                await ledger.LeaseLost.WaitAsync(Guard, ct);
            }
        };
        var options = Options() with { Decoders = 1, BatchSize = 1, Heartbeat = TimeSpan.FromMilliseconds(1) };
        var pipeline = Pipeline(ledger, options);

        await pipeline.RunAsync(default).WaitAsync(Guard);

        Assert.Equal(1, pipeline.Counters.LostShards);
        Assert.Empty(ledger.Completions);
        Assert.Empty(ledger.RefusedCompletions); // it did not even try: the part it would write is the new holder's now
        Assert.Empty(Parts()); // thumbnails, written as videos decode, are content-addressed and may stay
        Assert.Equal(1, Sampler.Calls); // the videos after the loss were not decoded

        // The first video's embedding was still recorded: it is keyed by content, so the new holder reuses it.
        Assert.Equal(VideoState.Done, ledger.VideoOf("/v/000").State);
        Assert.Equal([VideoState.Pending, VideoState.Pending], Sources(3).Skip(1).Select(s => ledger.VideoOf(s).State));
    }

    [Fact]
    public async Task A_renewal_refused_for_a_cancelled_job_stops_the_shard_and_hands_it_back()
    {
        var ledger = Ledger(3, Sources(3));
        Sampler.Gate = async (call, _, ct) =>
        {
            if (call == 1)
            {
                ledger.CancelJob();
                await ledger.LeaseLost.WaitAsync(Guard, ct);
            }
        };
        var pipeline = Pipeline(ledger, Options() with { Decoders = 1, BatchSize = 1, Heartbeat = TimeSpan.FromMilliseconds(1) });

        await pipeline.RunAsync(default).WaitAsync(Guard);

        // The lease was still this worker's: handed back at once rather than left to run out.
        Assert.Equal([0L], ledger.Released);
        Assert.Empty(ledger.Completions);
        Assert.Empty(Parts()); // thumbnails, written as videos decode, are content-addressed and may stay
        Assert.Equal(1, Sampler.Calls);
    }

    [Fact]
    public async Task A_lease_lost_since_the_last_heartbeat_is_found_before_the_part_is_written()
    {
        var ledger = Ledger(2, Sources(2));
        Encoder.BeforeEncode = (call, _) =>
        {
            if (call == 1)
            {
                ledger.TakeOver(0); // no heartbeat before the shard ends (the interval is a minute)
            }
        };
        var pipeline = Pipeline(ledger, Options() with { BatchSize = 2 });

        await pipeline.RunAsync(default).WaitAsync(Guard);

        Assert.Equal(1, pipeline.Counters.LostShards);
        Assert.Empty(ledger.Completions);
        Assert.Empty(ledger.RefusedCompletions);
        Assert.Empty(Parts()); // thumbnails, written as videos decode, are content-addressed and may stay
    }

    [Fact]
    public async Task The_lease_is_renewed_while_a_part_uploads_for_longer_than_the_lease()
    {
        var ledger = Ledger(2, Sources(2));
        ShardLease? stolen = null;
        Store.BeforeWrite = async (name, ct) =>
        {
            if (name.EndsWith(".npy", StringComparison.Ordinal))
            {
                // The upload outlasts three leases; another worker then tries to claim the shard.
                await Task.Delay(TimeSpan.FromSeconds(3), ct);
                stolen = await ledger.ClaimShardAsync("other", TimeSpan.FromMinutes(1), ct);
            }
        };
        var options = Options() with { Lease = TimeSpan.FromSeconds(1), Heartbeat = TimeSpan.FromMilliseconds(20) };
        var pipeline = Pipeline(ledger, options);

        await pipeline.RunAsync(default).WaitAsync(Guard);

        Assert.Null(stolen);
        Assert.Single(ledger.Completions);
        Assert.Equal(0, pipeline.Counters.LostShards);
    }

    [Fact]
    public async Task An_encoder_failure_becomes_retryable_results_and_the_retry_succeeds()
    {
        var ledger = Ledger(2, Sources(2));
        Encoder.BeforeEncode = (call, _) =>
        {
            if (call == 1)
            {
                throw new InvalidOperationException("CUDA error: an illegal memory access was encountered");
            }
        };

        await Pipeline(ledger).RunAsync(default).WaitAsync(Guard);

        // The first batch held one or both videos, as the decoders delivered them.
        var failed = ledger.Completions.First().Results.Where(r => !r.Succeeded).ToList();
        Assert.NotEmpty(failed);
        Assert.All(failed, r => Assert.Equal(ErrorCodes.EncodeFailed, r.ErrorCode));
        Assert.All(failed, r => Assert.Contains("illegal memory access", r.Message, StringComparison.Ordinal));
        Assert.Equal(2, ledger.Completions.Count);
        Assert.All(Sources(2), s => Assert.Equal((VideoState.Done, failed.Any(f => f.Source == s) ? 2 : 1), (ledger.VideoOf(s).State, ledger.VideoOf(s).Attempts)));
        Assert.Empty(ledger.FinalFailures());
    }

    [Fact]
    public async Task An_encoder_that_always_fails_ends_in_final_failures_after_max_attempts_not_a_crash()
    {
        var ledger = Ledger(2, Sources(2));
        Encoder.BeforeEncode = (_, _) => throw new InvalidOperationException("out of memory on the device");
        var pipeline = Pipeline(ledger);

        await pipeline.RunAsync(default).WaitAsync(Guard);

        Assert.Equal(2, ledger.Completions.Count); // MaxAttempts = 2
        Assert.Equal(
            Sources(2).Select(s => (s, ErrorCodes.EncodeFailed, 2)),
            ledger.FinalFailures().Select(f => (f.Source, f.ErrorCode, f.Attempts)).Order());
        Assert.Empty(Parts()); // thumbnails, written as videos decode, are content-addressed and may stay
        Assert.Equal(4, pipeline.Counters.Failed);
    }

    [Fact]
    public async Task A_retry_requeued_while_the_claimer_finds_nothing_is_still_done_in_this_run()
    {
        var ledger = Ledger(1, Sources(1));
        Encoder.BeforeEncode = (call, _) =>
        {
            if (call == 1)
            {
                throw new InvalidOperationException("transient");
            }
        };

        // The claimer's second claim (nothing to claim while shard 0 is held) returns only after shard 0 failed,
        // was requeued and left the pipeline's active set. A claimer that then decides "idle" stops with work queued.
        ledger.OnceWhenEmpty(async () =>
        {
            await SpinUntilAsync(() => !ledger.Completions.IsEmpty);
            await Task.Delay(50); // widens the window in which shard 0 leaves the active set; never needed for a pass
        });

        await Pipeline(ledger).RunAsync(default).WaitAsync(Guard);

        Assert.Equal((VideoState.Done, 2), (ledger.VideoOf("/v/000").State, ledger.VideoOf("/v/000").Attempts));
    }

    [Fact]
    public async Task Videos_decoded_ahead_of_a_stalled_encoder_stay_within_the_queue_bounds()
    {
        const int decoders = 2, batch = 2;
        const int bound = batch + (2 * batch) + decoders; // in the encoder + the decoded queue + one held by each decoder
        var ledger = Ledger(10, Sources(40));
        using var encoderGo = new ManualResetEventSlim();
        var filled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var mostAhead = 0;
        Encoder.BeforeEncode = (call, _) =>
        {
            if (call == 1)
            {
                encoderGo.Wait(Guard);
            }
        };
        Sampler.Gate = (call, _, _) =>
        {
            var ahead = call - Encoder.Encoded;
            InterlockedMax(ref mostAhead, ahead);
            if (ahead >= bound - batch + 1)
            {
                filled.TrySetResult(); // the decoded queue is full and every decoder holds one more
            }

            return Task.CompletedTask;
        };
        var options = Options() with { Decoders = decoders, BatchSize = batch, ShardsInFlight = 2 };
        var run = Pipeline(ledger, options).RunAsync(default);

        await filled.Task.WaitAsync(Guard);
        await Task.Delay(100); // room for an unbounded queue to run ahead; a bounded one cannot, however long this is
        var sampledWhileStalled = Sampler.Calls;
        encoderGo.Set();
        await run.WaitAsync(Guard);

        Assert.InRange(sampledWhileStalled, bound - batch + 1, bound);
        Assert.InRange(mostAhead, bound - batch + 1, bound);
        Assert.Equal(40, Encoder.Encoded);
        Assert.Equal(4, ledger.Completions.Count);
    }

    private static void InterlockedMax(ref int target, int value)
    {
        var current = Volatile.Read(ref target);
        while (value > current && Interlocked.CompareExchange(ref target, value, current) is var seen && seen != current)
        {
            current = seen;
        }
    }

    private static async Task SpinUntilAsync(Func<bool> condition)
    {
        using var timeout = new CancellationTokenSource(Guard);
        while (!condition())
        {
            await Task.Delay(1, timeout.Token);
        }
    }
}

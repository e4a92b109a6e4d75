using System.Collections.Concurrent;
using System.Diagnostics;
using System.Threading.Channels;
using TempMe.Pipeline.Contracts;
using TempMe.Pipeline.Indexing.Output;
using TempMe.Pipeline.Indexing.Sources;
using TempMe.Pipeline.Indexing.Thumbnails;

namespace TempMe.Pipeline.Indexing;

/// <summary>
/// The one shard pipeline both modes run: claim shards from a ledger, fetch and decode their videos with several
/// decoders, encode decoded videos in batches, make each result durable, then write the shard's part and complete
/// the shard. Decoding of later videos (and later shards) overlaps encoding, and every queue is bounded, so memory
/// stays flat whatever the corpus size.
/// </summary>
/// <remarks>
/// Failure semantics: a bad video becomes a failed result, never an exception. If this process dies, its leases run
/// out (or, in single-machine mode, are reclaimed at the next start) and the shards are redone; videos whose results
/// were recorded are not recomputed, because their embeddings are found again by content hash. Part names are
/// deterministic, so a redone shard overwrites its own part.
/// </remarks>
public sealed partial class ShardPipeline
{
    private readonly IShardLedger _ledger;
    private readonly ISourceFetcher _fetcher;
    private readonly IFrameSampler _sampler;
    private readonly IVideoEncoder _encoder;
    private readonly IBlobStore _output;
    private readonly SamplingSettings _sampling;
    private readonly ShardPipelineOptions _options;
    private readonly ConcurrentDictionary<string, TaskCompletionSource<VideoResult>> _inFlightContent = new(StringComparer.Ordinal);

    // Unbounded in type, bounded in fact: a shard is written here once, when its last video settles (or at once when it
    // has none), and a shard exists only while it holds one of ShardsInFlight slots, which it gives back after it is read
    // from here. So at most ShardsInFlight entries are ever queued. Writers are synchronous callbacks (TryWrite), and on a
    // bounded channel TryWrite could refuse and drop a finished shard, which would hang the run instead of bounding it.
    private readonly Channel<ShardWork> _finished = Channel.CreateUnbounded<ShardWork>(new UnboundedChannelOptions { SingleReader = true });
    private int _started;

    /// <summary>Creates a pipeline over the given parts.</summary>
    public ShardPipeline(
        IShardLedger ledger,
        ISourceFetcher fetcher,
        IFrameSampler sampler,
        IVideoEncoder encoder,
        IBlobStore output,
        SamplingSettings sampling,
        ShardPipelineOptions options)
    {
        _ledger = ledger;
        _fetcher = fetcher;
        _sampler = sampler;
        _encoder = encoder;
        _output = output;
        _sampling = sampling;
        _options = options;
        if (encoder.FramesPerVideo != sampling.Frames || encoder.ImageSize != sampling.ImageSize)
        {
            throw new ArgumentException($"The encoder takes {encoder.FramesPerVideo} frames of {encoder.ImageSize}px but sampling gives {sampling.Frames} of {sampling.ImageSize}px.", nameof(sampling));
        }
    }

    /// <summary>Live counters of this run.</summary>
    public PipelineCounters Counters { get; } = new();

    /// <summary>
    /// Runs until no shard is left (when <see cref="ShardPipelineOptions.StopWhenIdle"/>) or until cancelled.
    /// On cancellation, shards not yet completed are handed back, and <see cref="OperationCanceledException"/> is thrown.
    /// </summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        if (Interlocked.Exchange(ref _started, 1) != 0)
        {
            throw new InvalidOperationException("A ShardPipeline runs once; create a new one for another run.");
        }

        using var run = new PipelineRun(_options, cancellationToken);
        var stages = StartStages(run);
        try
        {
            await UntilAllDoneOrOneFailsAsync(stages, cancellationToken);
        }
        catch
        {
            // The first failed stage stops the others: a stage left waiting on one that died would wait forever.
            await run.Stop.CancelAsync();
            await Task.WhenAll(stages.Select(t => t.ContinueWith(_ => { }, TaskScheduler.Default)));
            foreach (var work in run.Active.Values)
            {
                // Hand back what we could not finish: its finished videos are recorded and will not be recomputed.
                await TryReleaseAsync(work.Lease);
            }

            throw;
        }
    }

    /// <summary>
    /// Starts the stages of a run: one claimer, <see cref="ShardPipelineOptions.Decoders"/> decoders, one encoder and
    /// one finisher. Each stage completes the queue it writes when it ends, so the next stage drains it and ends too.
    /// </summary>
    private Task[] StartStages(PipelineRun run)
    {
        var token = run.Token;
        var claimer = Task.Run(() => ClaimLoopAsync(run), token);
        var decoders = Enumerable.Range(0, Math.Max(1, _options.Decoders)).Select(_ => Task.Run(() => DecodeLoopAsync(run), token)).ToArray();
        var decodersDone = CompleteWhenDoneAsync(Task.WhenAll(decoders), () => run.Decoded.Writer.TryComplete(), token);
        var encoding = Task.Run(() => EncodeLoopAsync(run), token);
        var finisher = Task.Run(() => FinishLoopAsync(run), token);
        var completion = CompleteWhenDoneAsync(Task.WhenAll(claimer, decodersDone, encoding), () => _finished.Writer.TryComplete(), token);
        return [claimer, decodersDone, encoding, completion, finisher];
    }

    private static Task CompleteWhenDoneAsync(Task stages, Action complete, CancellationToken token) => Task.Run(async () =>
    {
        try
        {
            await stages;
        }
        finally
        {
            complete();
        }
    }, token);

    /// <summary>Claims shards while a slot is free and queues their videos for the decoders.</summary>
    private async Task ClaimLoopAsync(PipelineRun run)
    {
        var token = run.Token;
        try
        {
            while (!token.IsCancellationRequested)
            {
                await run.Slots.WaitAsync(token);

                // Idle only if nothing was held before this claim: a shard finishing during the claim may have been
                // requeued with retries, and the claim did not see it.
                var heldNothing = run.Active.IsEmpty;
                var lease = await _ledger.ClaimShardAsync(_options.WorkerId, _options.Lease, token);
                if (lease is null)
                {
                    run.Slots.Release();
                    if (_options.StopWhenIdle && heldNothing)
                    {
                        return;
                    }

                    // Wait for a running shard to finish (it may requeue retryable videos) or for new work to appear.
                    await run.ShardDone.WaitAsync(run.Active.IsEmpty ? _options.IdlePoll : Timeout.InfiniteTimeSpan, token);
                    continue;
                }

                await QueueShardAsync(run, lease);
            }
        }
        finally
        {
            run.Videos.Writer.TryComplete();
        }
    }

    /// <summary>Starts a claimed shard's heartbeat and queues its videos (a shard without videos goes straight to finishing).</summary>
    private async Task QueueShardAsync(PipelineRun run, ShardLease lease)
    {
        var token = run.Token;
        var work = new ShardWork(lease, token);
        work.Heartbeat = Heartbeat(work, work.HeartbeatStop.Token);
        run.Active[lease.ShardId] = work;
        Counters.AddClaimed(lease.Videos.Count);
        if (lease.Videos.Count == 0)
        {
            await _finished.Writer.WriteAsync(work, token);
        }

        for (var i = 0; i < lease.Videos.Count; i++)
        {
            await run.Videos.Writer.WriteAsync(new VideoJob(work, i), token);
        }
    }

    /// <summary>One decoder: fetches, hashes and decodes queued videos (a cached or failed one settles here and goes no further).</summary>
    private async Task DecodeLoopAsync(PipelineRun run)
    {
        await foreach (var job in run.Videos.Reader.ReadAllAsync(run.Token))
        {
            var prepared = await PrepareAsync(job, run.Token);
            if (prepared is not null)
            {
                await run.Decoded.Writer.WriteAsync(prepared, run.Token);
            }
        }
    }

    /// <summary>The encoder: takes up to a batch of decoded videos at a time, into buffers reused for the whole run.</summary>
    private async Task EncodeLoopAsync(PipelineRun run)
    {
        var batch = new List<DecodedVideo>(_options.BatchSize);
        var input = new float[checked(_options.BatchSize * _sampling.FloatsPerVideo)];
        var output = new float[_options.BatchSize * _encoder.EmbeddingSize];
        while (await run.Decoded.Reader.WaitToReadAsync(run.Token))
        {
            batch.Clear();
            while (batch.Count < _options.BatchSize && run.Decoded.Reader.TryRead(out var item))
            {
                batch.Add(item);
            }

            await EncodeBatchAsync(batch, input, output, run.Token);
        }
    }

    /// <summary>The finisher: writes each settled shard's part, completes it and frees its slot for the next claim.</summary>
    private async Task FinishLoopAsync(PipelineRun run)
    {
        await foreach (var work in _finished.Reader.ReadAllAsync(run.Token))
        {
            await FinishShardAsync(work, run.Token);
            run.Active.TryRemove(work.Lease.ShardId, out _);
            run.Slots.Release();
            run.ShardDone.Release();
        }
    }

    /// <summary>Returns when every stage has finished; throws the first stage failure (or cancellation) at once.</summary>
    private static async Task UntilAllDoneOrOneFailsAsync(Task[] stages, CancellationToken cancellationToken)
    {
        var running = stages.ToList();
        while (running.Count > 0)
        {
            var finished = await Task.WhenAny(running).WaitAsync(cancellationToken);
            await finished;
            running.Remove(finished);
        }
    }

    /// <summary>Hands a lease back; a ledger that cannot take it (disk full, database down) lets the lease expire instead.</summary>
    private async Task TryReleaseAsync(ShardLease lease)
    {
        try
        {
            await _ledger.ReleaseShardAsync(lease, CancellationToken.None);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // Not rethrown: the failure that stopped the run is the one to report. The lease runs out, or a
            // single-machine run reclaims it at its next start.
        }
    }

    private async Task Heartbeat(ShardWork work, CancellationToken cancellationToken)
    {
        await Task.Yield();
        try
        {
            while (true)
            {
                await Task.Delay(_options.Heartbeat, cancellationToken);
                if (!await _ledger.RenewLeaseAsync(work.Lease, _options.WorkerId, _options.Lease, cancellationToken))
                {
                    // Another worker owns the shard now (or its job was cancelled): stop spending work on it.
                    work.MarkLost();
                    return;
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>Resolves a video without the encoder when possible; returns the decoded frames otherwise.</summary>
    private async Task<DecodedVideo?> PrepareAsync(VideoJob job, CancellationToken cancellationToken)
    {
        if (await TrySettleBeforeFetchAsync(job, cancellationToken))
        {
            return null;
        }

        var clock = Stopwatch.StartNew();
        if (await TryFetchAsync(job, clock, cancellationToken) is not { } local)
        {
            return null;
        }

        await using (local)
        {
            if (await TryHashAsync(job, local, clock, cancellationToken) is not { } sha)
            {
                return null;
            }

            var fetchSeconds = clock.Elapsed.TotalSeconds;
            Counters.AddFetch(fetchSeconds);
            if (await TrySettleFromCacheAsync(job, sha, cancellationToken))
            {
                return null;
            }

            if (job.Work.IsLost)
            {
                Abandon(job);
                return null;
            }

            return LeadOrFollow(job, sha) is { } leader
                ? await DecodeAsync(job, local, sha, leader, clock, fetchSeconds, cancellationToken)
                : null;
        }
    }

    /// <summary>Settles a video its shard's lease or the ledger already decided: lost lease, final failure, or a known embedding.</summary>
    private async Task<bool> TrySettleBeforeFetchAsync(VideoJob job, CancellationToken cancellationToken)
    {
        var video = job.Video;
        if (job.Work.IsLost)
        {
            Abandon(job);
            return true;
        }

        if (video.State == VideoState.Failed)
        {
            Complete(job, new VideoResult
            {
                VideoId = video.VideoId, Source = video.Source, ContentSha256 = video.ContentSha256,
                ErrorCode = video.ErrorCode ?? ErrorCodes.Internal, Message = video.ErrorMessage, Attempted = false,
            });
            return true;
        }

        if (video.State == VideoState.Done && video.ContentSha256 is { } knownSha
            && await _ledger.FindEmbeddingAsync(job.Work.Lease.JobId, knownSha, cancellationToken) is { } known)
        {
            Complete(job, new VideoResult { VideoId = video.VideoId, Source = video.Source, ContentSha256 = knownSha, Embedding = known, Reused = true, Attempted = false, Thumbnail = await ExistingThumbnailAsync(knownSha, cancellationToken) });
            return true;
        }

        return false;
    }

    /// <summary>The video as a local file; null when it cannot be had (the failure is recorded as its result).</summary>
    private async Task<ILocalVideo?> TryFetchAsync(VideoJob job, Stopwatch clock, CancellationToken cancellationToken)
    {
        var video = job.Video;
        try
        {
            return await _fetcher.FetchAsync(video.Source, cancellationToken);
        }
        catch (FileNotFoundException e)
        {
            Complete(job, Failure(video, ErrorCodes.NotFound, e.Message, clock.Elapsed.TotalSeconds));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or HttpRequestException)
        {
            Complete(job, Failure(video, ErrorCodes.StorageFailed, e.Message, clock.Elapsed.TotalSeconds));
        }

        return null;
    }

    /// <summary>The file's SHA-256; null when it cannot be read (recorded as <c>not_found</c>).</summary>
    private async Task<string?> TryHashAsync(VideoJob job, ILocalVideo local, Stopwatch clock, CancellationToken cancellationToken)
    {
        try
        {
            return await ContentHash.OfFileAsync(local.Path, cancellationToken);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Complete(job, Failure(job.Video, ErrorCodes.NotFound, $"cannot read {job.Video.Source}: {e.Message}", clock.Elapsed.TotalSeconds));
            return null;
        }
    }

    /// <summary>Settles the video with the embedding its content already has, if it has one.</summary>
    private async Task<bool> TrySettleFromCacheAsync(VideoJob job, string sha, CancellationToken cancellationToken)
    {
        if (await _ledger.FindEmbeddingAsync(job.Work.Lease.JobId, sha, cancellationToken) is not { } cached)
        {
            return false;
        }

        var video = job.Video;
        Complete(job, new VideoResult { VideoId = video.VideoId, Source = video.Source, ContentSha256 = sha, Embedding = cached, Reused = true, Thumbnail = await ExistingThumbnailAsync(sha, cancellationToken) });
        return true;
    }

    /// <summary>
    /// Makes this video the one that decodes and encodes its content (returns the promise its copies wait on), or, when
    /// another copy is already on its way through the encoder, settles it with that copy's result later (returns null).
    /// </summary>
    private TaskCompletionSource<VideoResult>? LeadOrFollow(VideoJob job, string sha)
    {
        var leader = new TaskCompletionSource<VideoResult>(TaskCreationOptions.RunContinuationsAsynchronously);
        var existing = _inFlightContent.GetOrAdd(sha, leader);
        if (existing == leader)
        {
            return leader;
        }

        var video = job.Video;
        _ = existing.Task.ContinueWith(
            t => Complete(job, t.Result with { VideoId = video.VideoId, Source = video.Source, Reused = t.Result.Succeeded, DecodeSeconds = 0, EncodeSeconds = 0 }),
            CancellationToken.None, TaskContinuationOptions.OnlyOnRanToCompletion, TaskScheduler.Default);
        return null;
    }

    /// <summary>Decodes the leading copy of a content and writes its thumbnail; a decode failure settles it and its copies.</summary>
    private async Task<DecodedVideo?> DecodeAsync(
        VideoJob job, ILocalVideo local, string sha, TaskCompletionSource<VideoResult> leader, Stopwatch clock, double fetchSeconds, CancellationToken cancellationToken)
    {
        FrameSample sample;
        try
        {
            sample = await _sampler.SampleAsync(local.Path, _sampling, cancellationToken);
        }
        catch (OperationCanceledException)
        {
            _inFlightContent.TryRemove(sha, out _);
            leader.TrySetCanceled(cancellationToken);
            throw;
        }

        var decodeSeconds = clock.Elapsed.TotalSeconds;
        PipelineMetrics.DecodeSeconds.Record(decodeSeconds - fetchSeconds);
        if (!sample.Succeeded)
        {
            var failed = Failure(job.Video, sample.ErrorCode ?? ErrorCodes.Internal, sample.Message ?? "decoding failed", decodeSeconds) with { ContentSha256 = sha };
            CompleteLeader(job, sha, failed);
            return null;
        }

        // Written here, by the decoders and before the part that lists the video exists, so a listed row's
        // thumbnail is already in the store; the encoder never waits for it.
        var thumbnail = await WriteThumbnailAsync(sha, sample, cancellationToken);
        return new DecodedVideo(job, sha, sample, decodeSeconds, thumbnail);
    }

    private async Task EncodeBatchAsync(List<DecodedVideo> batch, float[] input, float[] output, CancellationToken cancellationToken)
    {
        var perVideo = _sampling.FloatsPerVideo;
        for (var i = 0; i < batch.Count; i++)
        {
            batch[i].Sample.Frames.AsSpan(0, perVideo).CopyTo(input.AsSpan(i * perVideo, perVideo));
        }

        var clock = Stopwatch.StartNew();
        Exception? failure = null;
        try
        {
            _encoder.EncodeVideos(input.AsSpan(0, batch.Count * perVideo), batch.Count, output.AsSpan(0, batch.Count * _encoder.EmbeddingSize));
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            failure = e;
        }

        var encodeSeconds = clock.Elapsed.TotalSeconds / Math.Max(1, batch.Count);
        var results = new List<(VideoJob Job, string Sha, VideoResult Result)>(batch.Count);
        for (var i = 0; i < batch.Count; i++)
        {
            var item = batch[i];
            var video = item.Job.Video;
            VideoResult result = failure is null
                ? new VideoResult
                {
                    VideoId = video.VideoId, Source = video.Source, ContentSha256 = item.Sha,
                    Embedding = new CachedEmbedding(output.AsSpan(i * _encoder.EmbeddingSize, _encoder.EmbeddingSize).ToArray(), item.Sample.Probe.DurationSeconds, item.Sample.TimestampsSeconds),
                    DecodeSeconds = item.DecodeSeconds, EncodeSeconds = encodeSeconds, Thumbnail = item.Thumbnail,
                }
                : Failure(video, ErrorCodes.EncodeFailed, failure.Message, item.DecodeSeconds) with { ContentSha256 = item.Sha, EncodeSeconds = encodeSeconds };
            results.Add((item.Job, item.Sha, result));
        }

        // Durable before anyone is told: a crash after this line never recomputes these videos.
        foreach (var group in results.Where(r => r.Result.Succeeded).GroupBy(r => r.Job.Work))
        {
            await _ledger.RecordVideoResultsAsync(group.Key.Lease, group.Select(r => r.Result).ToList(), cancellationToken);
        }

        foreach (var (job, sha, result) in results)
        {
            CompleteLeader(job, sha, result);
        }
    }

    private async Task FinishShardAsync(ShardWork work, CancellationToken cancellationToken)
    {
        // The heartbeat keeps renewing while the part is written: an upload longer than the lease must not let
        // another worker claim the shard and write a part of the same name beside ours.
        try
        {
            await WriteAndCompleteAsync(work, cancellationToken);
        }
        finally
        {
            await work.StopHeartbeatAsync();
        }
    }

    private async Task WriteAndCompleteAsync(ShardWork work, CancellationToken cancellationToken)
    {
        var lease = work.Lease;

        // Checked once more right before writing: a lease lost since the last heartbeat belongs to another worker,
        // whose part for this shard has the same name; writing ours could overwrite the part it completed.
        if (work.IsLost || !await _ledger.RenewLeaseAsync(lease, _options.WorkerId, _options.Lease, cancellationToken))
        {
            await HandBackLostAsync(work);
            return;
        }

        var results = work.Results.Select(r => r!).ToList();
        string? partName = null;
        if (results.Any(r => r.Succeeded))
        {
            partName = OutputLayout.PartName(lease.PartNumber);
            var upload = Stopwatch.StartNew();
            await PartWriter.WriteAsync(_output, partName, results, _encoder.EmbeddingSize, cancellationToken);
            Counters.AddUpload(upload.Elapsed.TotalSeconds);
        }
        else
        {
            // A shard with no embedding has no part; remove one a previous run may have left.
            await _output.DeleteAsync(OutputLayout.PartName(lease.PartNumber) + ".jsonl", cancellationToken);
            await _output.DeleteAsync(OutputLayout.PartName(lease.PartNumber) + ".npy", cancellationToken);
        }

        if (work.IsLost)
        {
            // Lost while the part was written: the new holder writes the same part again and completes the shard.
            await HandBackLostAsync(work);
            return;
        }

        if (!await _ledger.CompleteShardAsync(lease, new ShardCompletion(partName, results, _options.MaxAttempts), cancellationToken))
        {
            Counters.AddLostShard();
        }
    }

    private async Task HandBackLostAsync(ShardWork work)
    {
        Counters.AddLostShard();
        await work.StopHeartbeatAsync();

        // A renewal is also refused when the job was cancelled, or when the ledger stayed unreachable: then the
        // lease is still ours, and handing it back lets the shard's skipped videos be redone without waiting for
        // it to run out. With another worker holding it, the release changes nothing.
        await TryReleaseAsync(work.Lease);
    }

    /// <summary>
    /// Writes the thumbnail of <paramref name="sha"/> from the middle sampled frame unless the store has it already
    /// (another copy, an earlier run); returns its name, or null when it could not be made or written. Never throws
    /// but for cancellation: a missing thumbnail is shown as none, and the video is not failed for it.
    /// </summary>
    private async Task<string?> WriteThumbnailAsync(string sha, FrameSample sample, CancellationToken cancellationToken)
    {
        if (!ThumbnailNames.IsContentHash(sha) || sample.Frames is not { } frames)
        {
            return null;
        }

        var name = ThumbnailNames.For(sha);
        try
        {
            if (await _output.GetPropertiesAsync(name, cancellationToken) is not null)
            {
                return name;
            }

            var jpeg = ThumbnailEncoder.Encode(frames, _sampling.ImageSize, _sampling.Frames / 2);
            using var content = new MemoryStream(jpeg, writable: false);
            await _output.WriteAsync(name, content, cancellationToken);
            Counters.AddThumbnailWritten();
            return name;
        }
        catch (Exception e) when (e is not (OperationCanceledException or OutOfMemoryException))
        {
            Counters.AddThumbnailFailure();
            return null;
        }
    }

    /// <summary>The name of the thumbnail of <paramref name="sha"/> when the store has it (a reused embedding has no frames to make one).</summary>
    private async Task<string?> ExistingThumbnailAsync(string sha, CancellationToken cancellationToken)
    {
        if (!ThumbnailNames.IsContentHash(sha))
        {
            return null;
        }

        var name = ThumbnailNames.For(sha);
        try
        {
            return await _output.GetPropertiesAsync(name, cancellationToken) is not null ? name : null;
        }
        catch (Exception e) when (e is not (OperationCanceledException or OutOfMemoryException))
        {
            Counters.AddThumbnailFailure();
            return null;
        }
    }

    private void CompleteLeader(VideoJob job, string sha, VideoResult result)
    {
        Complete(job, result);
        if (_inFlightContent.TryRemove(sha, out var leader))
        {
            leader.TrySetResult(result);
        }
    }

    /// <summary>Settles a video of a lost shard without work: the shard is neither written nor completed by this worker.</summary>
    private void Abandon(VideoJob job)
    {
        var video = job.Video;
        var placeholder = new VideoResult { VideoId = video.VideoId, Source = video.Source, ErrorCode = ErrorCodes.LeaseExpired, Attempted = false };
        if (job.Work.SetResult(job.Index, placeholder))
        {
            _finished.Writer.TryWrite(job.Work);
        }
    }

    private void Complete(VideoJob job, VideoResult result)
    {
        Counters.Add(result);
        if (job.Work.SetResult(job.Index, result))
        {
            _finished.Writer.TryWrite(job.Work);
        }
    }

    private static VideoResult Failure(ShardVideo video, string code, string message, double decodeSeconds) => new()
    {
        VideoId = video.VideoId, Source = video.Source, ContentSha256 = video.ContentSha256,
        ErrorCode = code, Message = message, DecodeSeconds = decodeSeconds,
    };
}

using System.Collections.Concurrent;
using TempMe.Pipeline.Contracts;

namespace TempMe.Pipeline.Indexing;

/// <summary>Thread-safe counters of one pipeline run, read by progress displays and metrics.</summary>
public sealed class PipelineCounters
{
    private long _claimed;
    private long _done;
    private long _failed;
    private long _reused;
    private long _lostShards;
    private long _decodeMicros;
    private long _encodeMicros;
    private long _fetchMicros;
    private long _uploadMicros;
    private long _settled;
    private long _thumbnails;
    private long _thumbnailFailures;

    /// <summary>Videos in claimed shards.</summary>
    public long Claimed => Interlocked.Read(ref _claimed);

    /// <summary>Videos that got their embedding in this run (computed, or reused from another copy of the same content).</summary>
    public long Done => Interlocked.Read(ref _done);

    /// <summary>Videos that ended failed in this run.</summary>
    public long Failed => Interlocked.Read(ref _failed);

    /// <summary>Embeddings taken from the content-hash cache instead of computed.</summary>
    public long Reused => Interlocked.Read(ref _reused);

    /// <summary>Shards whose lease was lost before completion (another worker redoes them).</summary>
    public long LostShards => Interlocked.Read(ref _lostShards);

    /// <summary>Total fetch and decode seconds.</summary>
    public double DecodeSeconds => Interlocked.Read(ref _decodeMicros) / 1e6;

    /// <summary>Total encode seconds (each batch's time split over its videos).</summary>
    public double EncodeSeconds => Interlocked.Read(ref _encodeMicros) / 1e6;

    /// <summary>Seconds spent fetching (downloading) and hashing source videos; part of <see cref="DecodeSeconds"/>.</summary>
    public double FetchSeconds => Interlocked.Read(ref _fetchMicros) / 1e6;

    /// <summary>Seconds spent writing shard parts to the output store.</summary>
    public double UploadSeconds => Interlocked.Read(ref _uploadMicros) / 1e6;

    /// <summary>Videos of claimed shards that have a result in this run, including ones settled before it (so <see cref="Claimed"/> minus this is what is in flight).</summary>
    public long Settled => Interlocked.Read(ref _settled);

    /// <summary>Thumbnails written to the output store in this run.</summary>
    public long ThumbnailsWritten => Interlocked.Read(ref _thumbnails);

    /// <summary>Thumbnails that could not be made, written or looked up in this run (their videos are not failed: they show none).</summary>
    public long ThumbnailFailures => Interlocked.Read(ref _thumbnailFailures);

    /// <summary>Failures of this run by error code.</summary>
    public ConcurrentDictionary<string, long> FailuresByCode { get; } = new(StringComparer.Ordinal);

    internal void AddClaimed(int videos) => Interlocked.Add(ref _claimed, videos);

    internal void AddThumbnailWritten() => Interlocked.Increment(ref _thumbnails);

    internal void AddThumbnailFailure()
    {
        Interlocked.Increment(ref _thumbnailFailures);
        PipelineMetrics.ThumbnailFailures.Add(1);
    }

    internal void AddLostShard() => Interlocked.Increment(ref _lostShards);

    internal void AddFetch(double seconds)
    {
        Interlocked.Add(ref _fetchMicros, (long)(seconds * 1e6));
        PipelineMetrics.DownloadSeconds.Record(seconds);
    }

    internal void AddUpload(double seconds)
    {
        Interlocked.Add(ref _uploadMicros, (long)(seconds * 1e6));
        PipelineMetrics.UploadSeconds.Record(seconds);
    }

    internal void Add(VideoResult result)
    {
        Interlocked.Increment(ref _settled);
        if (!result.Attempted)
        {
            // Settled before this run (a redone shard's finished videos): not progress of this run.
            return;
        }

        if (result.Succeeded)
        {
            Interlocked.Increment(ref _done);
            PipelineMetrics.VideosDone.Add(1);
            if (result.Reused)
            {
                Interlocked.Increment(ref _reused);
            }
        }
        else
        {
            Interlocked.Increment(ref _failed);
            FailuresByCode.AddOrUpdate(result.ErrorCode ?? ErrorCodes.Internal, 1, (_, n) => n + 1);
            PipelineMetrics.VideosFailed.Add(1, new KeyValuePair<string, object?>(PipelineMetrics.ErrorCodeTag, result.ErrorCode ?? ErrorCodes.Internal));
        }

        Interlocked.Add(ref _decodeMicros, (long)(result.DecodeSeconds * 1e6));
        Interlocked.Add(ref _encodeMicros, (long)(result.EncodeSeconds * 1e6));
        if (result.EncodeSeconds > 0)
        {
            PipelineMetrics.EncodeSeconds.Record(result.EncodeSeconds);
        }
    }
}
